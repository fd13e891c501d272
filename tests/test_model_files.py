"""fercls._model_files: a model file is untrusted input, in both formats.

Hostile and damaged model files one by one, then a property: any
single mutation of any field of a manifest (in an archive or a folder) or of
a first-layout ``model.json`` either loads into a model whose probabilities are finite or raises a
ValueError naming the file.
"""

import copy
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import write_first_layout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fercls
from fercls import FERClassifier, PixelNormalizer, PixelStringParser
from fercls.pretrained import load_classifier, load_model, save_classifier

PROBE = np.full((2, 2304), 128, dtype=np.uint8)


@pytest.fixture(scope="module")
def classifier():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (16, 2304)).astype(np.float32) / 255
    y = np.repeat(["happy", "sad"], 8)
    return FERClassifier("simple", max_iter=1, augment=False, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def archive(classifier, tmp_path_factory):
    """A parser → normaliser → classifier pipeline saved as .fercls."""
    from sklearn.pipeline import make_pipeline

    transformers = [PixelStringParser().fit(PROBE), PixelNormalizer().fit(PROBE)]
    pipeline = make_pipeline(*transformers, classifier)
    return fercls.save(pipeline, tmp_path_factory.mktemp("archive") / "model.fercls")


@pytest.fixture(scope="module")
def folder(classifier, tmp_path_factory):
    return save_classifier(classifier, tmp_path_factory.mktemp("folder") / "model")


@pytest.fixture(scope="module")
def first_layout(classifier, tmp_path_factory):
    """The classifier in fercls' first folder layout (model.json + model.weights.h5)."""
    return write_first_layout(classifier, tmp_path_factory.mktemp("first") / "model")


def read_manifest(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("fercls.json"))


def rewrite(source, target, *, manifest=None, members=None, extra=()):
    """``source`` with its manifest (and any ``members``) replaced, ``extra``
    entries appended (a second entry of the same name, if asked)."""
    members = members or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = members.get(item.filename, old.read(item))
            if item.filename == "fercls.json" and manifest is not None:
                data = json.dumps(manifest).encode()
            new.writestr(item.filename, data)
        for name, data in extra:
            new.writestr(name, data)
    return target


def classifier_state(manifest):
    return manifest["object"]["steps"][-1][1]["state"]["__dict__"]


def set_state(manifest, key, value):
    for pair in classifier_state(manifest):
        if pair[0] == key:
            pair[1] = value
            return manifest
    classifier_state(manifest).append([key, value])
    return manifest


def refused(path, match):
    with pytest.raises(ValueError, match=match) as error:
        load_model(path)
    assert str(path) in str(error.value)


def swap_network(archive, tmp_path, network, **manifest_edits):
    """The archive with its network replaced by ``network`` (a Keras model)."""
    network.save(tmp_path / "n.keras")
    manifest = read_manifest(archive)
    for key, value in manifest_edits.items():
        set_state(manifest, key, value)
    return rewrite(
        archive,
        tmp_path / "swapped.fercls",
        manifest=manifest,
        members={"network-0.keras": (tmp_path / "n.keras").read_bytes()},
    )


# ------------------------------------------------ 4. bounds before allocation
def test_a_huge_dense_layer_is_refused_before_it_is_built(archive, tmp_path):
    import keras

    from fercls._model_files import count_parameters

    def huge():
        inputs = keras.Input((48, 48, 1))
        x = keras.layers.Dense(8_000_000)(keras.layers.Flatten()(inputs))
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))

    assert count_parameters(huge) == 2304 * 8_000_000 + 8_000_000 + 16_000_002
    # The file itself cannot be made by building the network; a config edit can.
    small = keras.Model(*_dense_net(keras, 8))
    path = swap_network(archive, tmp_path, small)
    with zipfile.ZipFile(path) as outer:
        network = outer.read("network-0.keras")
    hostile = tmp_path / "hostile.keras"
    hostile.write_bytes(network)
    with zipfile.ZipFile(hostile) as inner:
        parts = {i.filename: inner.read(i) for i in inner.infolist()}
    edited = parts["config.json"].replace(b'"units": 8,', b'"units": 8000000,')
    edited = edited.replace(b"[null, 8]", b"[null, 8000000]")  # the next layer's input
    assert edited != parts["config.json"]
    parts["config.json"] = edited
    with zipfile.ZipFile(hostile, "w") as inner:
        for name, data in parts.items():
            inner.writestr(name, data)
    target = rewrite(
        archive, tmp_path / "big.fercls", members={"network-0.keras": hostile.read_bytes()}
    )
    refused(target, r"parameters, more than the limit of 50,000,000; not loaded")


def _dense_net(keras, units):
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Dense(units)(keras.layers.Flatten()(inputs))
    return inputs, keras.layers.Dense(2, activation="softmax")(x)


def test_an_oversized_label_dtype_is_refused(archive, tmp_path):
    manifest = set_state(
        read_manifest(archive), "classes_", {"__ndarray__": ["happy", "sad"], "dtype": "<U20000000"}
    )
    refused(rewrite(archive, tmp_path / "u.fercls", manifest=manifest), "oversized items")


def test_a_model_json_with_a_million_classes_is_refused_before_building(first_layout, tmp_path):
    target = _copy_folder(first_layout, tmp_path / "m")
    metadata = json.loads((target / "model.json").read_text())
    metadata["classes"] = list(range(1_500_000))  # 11 MB of JSON
    (target / "model.json").write_text(json.dumps(metadata))
    refused(target, r"1,500,000 classes_; expected 2 to 1,000 labels")


def _copy_folder(folder, target):
    target.mkdir()
    for path in folder.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.mark.slow  # starts TensorFlow in another process
def test_hostile_files_stay_under_the_memory_ceiling(archive, first_layout, tmp_path):
    """Loading any of them adds less than 1.5 GB to the process's peak memory
    (docs/guide/security.md states the ceiling)."""
    test_a_huge_dense_layer_is_refused_before_it_is_built(archive, tmp_path)
    test_an_oversized_label_dtype_is_refused(archive, tmp_path)
    test_a_model_json_with_a_million_classes_is_refused_before_building(first_layout, tmp_path)
    files = [tmp_path / "big.fercls", tmp_path / "u.fercls", tmp_path / "m"]
    script = (
        "import resource, sys, tensorflow\n"
        "from fercls.pretrained import load_model\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load_model(path)\n"
        "    except ValueError:\n"
        "        pass\n"
        "    else:\n"
        "        sys.exit(f'{path} loaded')\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, files)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    growth_mb = float(result.stdout.strip().splitlines()[-1])
    assert growth_mb < 1500, f"peak memory grew by {growth_mb:.0f} MB"


# ------------------------------------------- 5. safe mode that stays on
def test_a_lambda_layer_never_runs_even_with_unsafe_deserialization_enabled(archive, tmp_path):
    import keras
    from keras.src.saving import serialization_lib

    marker = tmp_path / "ran"
    inputs = keras.Input((48, 48, 1))
    touched = keras.layers.Lambda(
        lambda t, p=str(marker): (__import__("pathlib").Path(p).write_text("ran"), t)[1]
    )(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(touched))
    marker.unlink(missing_ok=True)  # building the model above ran it once, here
    target = swap_network(archive, tmp_path, keras.Model(inputs, outputs))
    marker.unlink(missing_ok=True)
    before = serialization_lib.in_safe_mode()
    keras.config.enable_unsafe_deserialization()  # what many notebooks call
    try:
        refused(target, "Lambda")
    finally:
        serialization_lib.global_state.set_global_attribute("safe_mode_saving", before)
    assert not marker.exists(), "code from the model file ran"


# ------------------------------------------- 10-15. one validation of state
STATE_EDITS = {
    "unsorted classes": ("classes_", {"__ndarray__": ["sad", "happy"], "dtype": "<U5"}, "sorted"),
    "seed a string": ("_seed_", "abc", "_seed_ must be an int"),
    "seed huge": ("_seed_", 1e30, "_seed_ must be an int"),
    "history a number": ("history_", 5, "history_ must map names to lists of numbers"),
    "history of strings": (
        "history_",
        {"__dict__": [["loss", ["x"]]]},
        "history_ must map names to lists of numbers",
    ),
    "n_iter a word": ("n_iter_", "many", "n_iter_ must be an int"),
    "n_iter negative": ("n_iter_", -3, "n_iter_ must be an int"),
    "best iteration beyond n_iter": ("best_iteration_", 99, "best_iteration_ must be None"),
    "image shape huge": (
        "image_shape_",
        {"__tuple__": [100000, 100000]},
        "more than 1,048,576 pixels",
    ),
}


@pytest.mark.parametrize("key, value, message", STATE_EDITS.values(), ids=STATE_EDITS.keys())
def test_tampered_fitted_state_is_refused_naming_the_file(archive, tmp_path, key, value, message):
    manifest = set_state(read_manifest(archive), key, value)
    refused(rewrite(archive, tmp_path / "t.fercls", manifest=manifest), message)


def test_weights_that_overflow_are_refused(archive, tmp_path):
    model = fercls.load(archive)
    network = model[-1].model_
    weights = network.get_weights()
    weights[-2][...] = 3e38  # finite, but the logits overflow
    network.set_weights(weights)
    target = fercls.save(model, tmp_path / "overflow.fercls")
    refused(target, "probabilities are not finite on a probe image")


def test_two_manifests_in_one_archive_are_refused(archive, tmp_path):
    manifest = read_manifest(archive)
    manifest["object"]["steps"][-1][1]["params"]["__dict__"].append(["max_iter", 7])
    with pytest.warns(UserWarning, match="Duplicate name"):
        target = rewrite(
            archive, tmp_path / "two.fercls", extra=[("fercls.json", json.dumps(manifest))]
        )
    refused(target, "holds fercls.json more than once")


FOLDER_EDITS = {
    "no normalization": (lambda m: m.pop("normalization"), "no 'normalization' entry"),
    "bad normalization": (
        lambda m: m.update(normalization="zscore"),
        "'method' parameter of PixelNormalizer.*'zscore'",
    ),
    "bad augment": (lambda m: m["params"].update(augment="spin"), "'augment' parameter"),
    "unsorted classes": (lambda m: m.update(classes=m["classes"][::-1]), "must be sorted"),
    "params a list": (lambda m: m.update(params=[1]), "params and card must be objects"),
}


@pytest.mark.parametrize("edit, message", FOLDER_EDITS.values(), ids=FOLDER_EDITS.keys())
def test_a_bad_model_json_is_refused_naming_the_folder(first_layout, tmp_path, edit, message):
    target = _copy_folder(first_layout, tmp_path / "m")
    metadata = json.loads((target / "model.json").read_text())
    edit(metadata)
    (target / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=message) as error:
        load_classifier(target)
    assert str(target) in str(error.value)


# ------------------------------------------------------- the property
EXTREMES = [
    None,
    True,
    0,
    -1,
    2**63,
    -(2**63),
    10**30,
    1e308,
    -1e308,
    float("nan"),
    "",
    "x" * 300,
    [],
    {},
    [[]],
    {"__ndarray__": [], "dtype": "<U99999"},
    {"__ndarray__": [1e308], "dtype": "<f8"},
    {"__tuple__": []},
    {"__dict__": []},
]


def tree_paths(tree, prefix=()):
    """Every node of a JSON tree, as the keys and indices that reach it."""
    yield prefix
    items = (
        tree.items()
        if isinstance(tree, dict)
        else enumerate(tree)
        if isinstance(tree, list)
        else ()
    )
    for key, value in items:
        yield from tree_paths(value, (*prefix, key))


def mutated(tree, path, operation, value):
    """``tree`` with the node at ``path`` removed, replaced by ``value``, or
    duplicated (in a list), as one careless or hostile edit."""
    tree = copy.deepcopy(tree)
    if not path:
        return value if operation == "replace" else tree
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if operation == "remove":
        del parent[last]
    elif operation == "replace":
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    return tree


def loads_finite_or_names_the_file(path):
    try:
        model = load_model(path)
    except ValueError as exc:
        assert str(path) in str(exc), exc
        return
    proba = model.predict_proba(PROBE)
    assert np.isfinite(proba).all()


mutations = st.tuples(
    st.integers(min_value=0),
    st.sampled_from(["remove", "replace", "duplicate"]),
    st.sampled_from(EXTREMES),
)
FAST_PROPERTY = settings(
    max_examples=int(os.environ.get("FERCLS_PROPERTY_EXAMPLES", "60")),
    derandomize="FERCLS_PROPERTY_EXAMPLES" not in os.environ,  # CI: the same cases every run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FAST_PROPERTY
@given(mutation=mutations)
def test_any_mutation_of_a_manifest_loads_finite_or_is_refused(archive, tmp_path, mutation):
    index, operation, value = mutation
    manifest = read_manifest(archive)
    paths = list(tree_paths(manifest))
    edited = mutated(manifest, paths[index % len(paths)], operation, value)
    target = tmp_path / "mutated.fercls"
    with zipfile.ZipFile(archive) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "fercls.json":
                data = json.dumps(edited).encode()
            new.writestr(item.filename, data)
    loads_finite_or_names_the_file(target)


# The folders' manifests go through the archive's decoder (above, 60 cases); these
# check what differs, the container and the first layout's translation, in fewer.
FOLDER_PROPERTY = settings(FAST_PROPERTY, max_examples=max(1, FAST_PROPERTY.max_examples // 3))


@FOLDER_PROPERTY
@given(mutation=mutations)
def test_any_mutation_of_a_model_json_loads_finite_or_is_refused(first_layout, tmp_path, mutation):
    mutated_folder(first_layout, "model.json", "model.weights.h5", tmp_path, mutation)


@FOLDER_PROPERTY
@given(mutation=mutations)
def test_any_mutation_of_a_folder_manifest_loads_finite_or_is_refused(folder, tmp_path, mutation):
    mutated_folder(folder, "fercls.json", "network-0.weights.h5", tmp_path, mutation)


def mutated_folder(folder, manifest_name, weights_name, tmp_path, mutation):
    index, operation, value = mutation
    metadata = json.loads((folder / manifest_name).read_text())
    paths = list(tree_paths(metadata))
    edited = mutated(metadata, paths[index % len(paths)], operation, value)
    target = tmp_path / "mutated"
    target.mkdir(exist_ok=True)
    (target / weights_name).write_bytes((folder / weights_name).read_bytes())
    (target / manifest_name).write_text(json.dumps(edited))
    loads_finite_or_names_the_file(target)


def test_the_mutations_reach_every_field(archive, folder, first_layout):
    """The property's paths cover the classifier's every state and parameter."""
    paths = {p[-1] for p in tree_paths(read_manifest(archive)) if p and isinstance(p[-1], str)}
    assert {"object", "steps", "state", "params", "network", "format_version"} <= paths
    keys = set(json.loads((Path(first_layout) / "model.json").read_text()))
    assert {"params", "classes", "image_shape", "normalization", "n_iter"} <= keys
    manifest = json.loads((folder / "fercls.json").read_text())
    in_folder = {p[-1] for p in tree_paths(manifest) if p and isinstance(p[-1], str)}
    assert {"object", "steps", "state", "params", "network", "format_version"} <= in_folder
