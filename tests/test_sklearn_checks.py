"""scikit-learn's own estimator checks on every estimator fercls exports.

The estimators are found from ``fercls.__all__``, so a new public estimator
meets the checks without anyone listing it here.
"""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

import fercls
from fercls import FERClassifier, PixelNormalizer

# Configurations to check besides each class's defaults: FERClassifier with the
# small network (8 epochs reach 0.92 training accuracy on the checks' three blobs
# and 0.95 on two, for seeds 0-2, where check_classifiers_train asks for 0.83; the
# default vgg would take far longer to the same end).
CONFIGURATIONS = {
    "FERClassifier": [FERClassifier(architecture="simple", max_iter=8, random_state=0)],
    "PixelNormalizer": [PixelNormalizer(), PixelNormalizer(method="standardize")],
}

# Each entry is a check the estimator fails by nature, with the reason.
EXPECTED_FAILURES = {
    "FERClassifier": {
        "check_sample_weight_equivalence_on_dense_data": (
            "Minibatch training: a sample of weight 2 is not the same as the sample "
            "repeated, because duplicates land in different batches and change the "
            "number of gradient steps. Weighted losses are still exact per batch."
        ),
        "check_methods_sample_order_invariance": (
            "The network computes in float32 and predict_proba returns float64, so the "
            "check compares at float64 tolerance (rtol 1e-7). The matrix kernels may round "
            "a row differently by its place in the batch (its SIMD block or thread): seen "
            "in a full run on an AMD EPYC, one probability in 60 moved by 1 float32 ulp; "
            "it passes on other runs, hence not strict. "
            "test_classifier checks order invariance at float32 tolerance instead."
        ),
    },
}
# PixelStringParser (pixel strings in) and FaceCropper (paths or photos in) declare
# input tags that scikit-learn's numeric-array checks cannot feed; scikit-learn
# skips those checks for them itself and runs the API checks (cloning,
# get_params/set_params, tags, pickling of unfitted estimators, param validation).


def public_estimator_classes():
    return [
        obj
        for name in fercls.__all__
        if inspect.isclass(obj := getattr(fercls, name)) and issubclass(obj, BaseEstimator)
    ]


def estimators():
    found = []
    for cls in public_estimator_classes():
        found.extend(CONFIGURATIONS.get(cls.__name__, [cls()]))
    return found


def expected_failures(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


def test_every_public_estimator_is_checked():
    names = {cls.__name__ for cls in public_estimator_classes()}
    assert names == {"FERClassifier", "PixelNormalizer", "PixelStringParser", "FaceCropper"}


@parametrize_with_checks(estimators(), expected_failed_checks=expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", public_estimator_classes(), ids=lambda c: c.__name__)
def test_parameters_are_validated_in_fit(cls):
    check_param_validation(cls.__name__, CONFIGURATIONS.get(cls.__name__, [cls()])[0])
