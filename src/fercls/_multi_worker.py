"""Training across workers (``tf.distribute.MultiWorkerMirroredStrategy``) with
Keras 3's own ``fit``, around the two steps of it that fail across workers
(keras-team/keras#20585, open):

- before training, ``fit`` builds the model's state from its first distributed
  batch, which it averages with an eager collective that does not complete
  across workers. Here the state (metrics, loss, optimizer) is built from a
  plain batch beforehand, under the strategy, and that step is skipped.
- after each step, ``fit`` averages the replicas' scalar metrics along an axis
  0 they do not have. Here the train and test functions average them as the
  scalars they are.

Batch normalisation is switched to statistics over the global batch
(Keras's ``synchronized=True``): otherwise each worker would update its moving
mean and variance from its own share of the batch and the workers would end
with different models. Everything else (the all-reduced gradients, callbacks,
the data set sharded across workers) is Keras's and TensorFlow's own.
"""

from __future__ import annotations


def across_workers(strategy) -> bool:
    """Whether ``strategy`` spans several worker processes."""
    extended = getattr(strategy, "extended", None)
    return bool(getattr(extended, "_in_multi_worker_mode", lambda: False)())


def prepare_fit(model, sample_batch) -> None:
    """Make the compiled ``model``'s ``fit`` work across workers.

    ``sample_batch`` is a tuple shaped like one training batch, ``(x, y)`` or
    ``(x, y, sample_weight)`` (any length: only shapes and dtypes are read).
    """
    from keras.layers import BatchNormalization

    strategy = model.distribute_strategy
    for layer in model._flatten_layers():
        if isinstance(layer, BatchNormalization):
            layer.synchronized = True  # read at each call: one set of statistics for all
    with strategy.scope():
        model._symbolic_build(data_batch=sample_batch)
    # Built: fit's own build step (the failing eager average) has nothing to do.
    model._maybe_symbolic_build = _skip_build
    model.train_function = _step_function(model, model.train_step)
    model.test_function = _step_function(model, model.test_step)
    # compile() and fit() ask for these; they keep the functions above.
    model.make_train_function = lambda force=False: model.train_function
    model.make_test_function = lambda force=False: model.test_function


def _skip_build(iterator=None, data_batch=None) -> None:
    return None


def _step_function(model, step):
    """One distributed step per call on an iterator of global batches: the
    step runs on every replica and its scalar logs are averaged across all."""
    import tensorflow as tf

    strategy = model.distribute_strategy

    def mean(value):
        return strategy.reduce("MEAN", value, axis=None)

    @tf.function(reduce_retracing=True)
    def one_step(iterator):
        outputs = strategy.run(step, args=(next(iterator),))
        return tf.nest.map_structure(mean, outputs)

    return one_step
