import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fercls import PixelNormalizer, PixelStringParser
from fercls.preprocessing import format_pixel_strings, parse_pixel_strings


def reference_parse(strings):
    """The tutorials' per-row parse: slow, but obviously right."""
    return np.array([np.array(s.split(), dtype=float) for s in strings]).astype(np.uint8)


@pytest.fixture(scope="module")
def pixel_rows():
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, (150, 2304), dtype=np.uint8)
    rows[0] = 0  # a blank image, as FER2013 has
    rows[1] = 255
    return rows


def test_parses_like_the_reference_over_several_chunks(pixel_rows):
    strings = format_pixel_strings(pixel_rows)
    parsed = parse_pixel_strings(strings)
    assert parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, pixel_rows)
    np.testing.assert_array_equal(parsed, reference_parse(strings))


@pytest.mark.parametrize(
    "container",
    [
        list,
        pd.Series,
        np.array,
        lambda s: pd.DataFrame({"pixels": s}),
        lambda s: np.array(s)[:, None],
    ],
    ids=["list", "series", "array", "dataframe", "column"],
)
def test_parser_accepts_every_string_container(container, pixel_rows):
    strings = format_pixel_strings(pixel_rows[:5])
    out = PixelStringParser().fit_transform(container(strings))
    np.testing.assert_array_equal(out, pixel_rows[:5])


def test_numeric_pixels_pass_through_as_uint8(pixel_rows):
    parser = PixelStringParser()
    np.testing.assert_array_equal(parser.transform(pixel_rows.astype(np.int64)), pixel_rows)
    images = pixel_rows[:3].reshape(3, 48, 48).astype(float)
    assert parser.transform(images).dtype == np.uint8


def test_irregular_but_valid_spacing_and_leading_zeros_parse():
    out = parse_pixel_strings([" 1  2\t3 ", "007 8 255\n"], n_pixels=3)
    assert out.tolist() == [[1, 2, 3], [7, 8, 255]]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["1 2 3", "1 2"], r"row 1: expected 3 pixel values, got 2"),
        (["1 2 3", "1 2 3 4"], r"row 1: expected 3 pixel values, got 4"),
        (["1 x 3"], r"row 0: value 'x' at position 1 is not an integer 0..255"),
        (["1 2 -3"], r"row 0: value '-3' at position 2 is not an integer"),
        (["1 2.5 3"], r"row 0: value '2.5' at position 1 is not an integer"),
        (["1 2 256"], r"row 0: value 256 at position 2 is outside 0..255"),
        (["1 2 3", None], r"row 1: expected a string .* got None"),
        (["1 2 3", float("nan")], r"row 1: expected a string .* got nan"),
        (["", "1 2 3"], r"row 0: expected 3 pixel values, got 0"),
        (["1 2 ³"], r"row 0: value '³' at position 2 is not an integer"),
    ],
)
def test_bad_strings_raise_naming_the_row(rows, message):
    with pytest.raises(ValueError, match=message):
        PixelStringParser(n_pixels=3).transform(rows)


def test_bad_row_deep_in_a_large_input_is_found(pixel_rows):
    strings = format_pixel_strings(pixel_rows)
    strings[137] = strings[137] + " 1"
    with pytest.raises(ValueError, match="row 137: expected 2304 pixel values, got 2305"):
        parse_pixel_strings(strings)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        ([], "empty"),
        ("1 2 3", "single string"),
        (np.array([[300, 1, 2]]), "not an integer 0..255"),
        (np.array([[np.nan, 1, 2]]), "not an integer 0..255"),
        (np.array([[0.5, 1, 0.25]]), r"value 0.5 at position 0 is not an integer 0..255 \(these"),
        (np.array([[0.5, 1, 300]]), r"integer 0..255$"),
        (np.zeros((2, 4)), "expected 3 pixel values per row, got 4$"),
        (pd.DataFrame({"a": ["1 2 3"], "b": ["x"]}), "one-column DataFrame"),
    ],
)
def test_bad_containers_and_arrays_are_rejected(X, message):
    with pytest.raises(ValueError, match=message):
        PixelStringParser(n_pixels=3).transform(X)


def test_one_image_instead_of_a_batch_says_how_to_pass_it():
    with pytest.raises(ValueError, match=r"got 48 \(one 48x48 image\? pass a batch of one"):
        PixelStringParser().transform(np.zeros((48, 48), np.uint8))


def test_n_pixels_none_infers_from_the_first_row():
    assert PixelStringParser(n_pixels=None).transform(["1 2", "3 4"]).shape == (2, 2)
    with pytest.raises(ValueError, match="row 1: expected 2 pixel values, got 3"):
        PixelStringParser(n_pixels=None).transform(["1 2", "3 4 5"])


def test_bad_parameter_is_rejected_at_fit():
    with pytest.raises(ValueError, match="n_pixels"):
        PixelStringParser(n_pixels=0).fit(["1"])


def test_inverse_transform_and_feature_names(pixel_rows):
    parser = PixelStringParser()
    strings = parser.inverse_transform(pixel_rows[:2])
    np.testing.assert_array_equal(parser.transform(strings), pixel_rows[:2])
    names = parser.get_feature_names_out()
    assert names[0] == "pixel0" and len(names) == 2304


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 70), st.integers(1, 40))))
def test_format_parse_round_trip(pixels):
    strings = format_pixel_strings(pixels)
    np.testing.assert_array_equal(parse_pixel_strings(strings, pixels.shape[1]), pixels)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=5))
def test_arbitrary_strings_parse_or_raise_value_error(strings):
    try:
        out = parse_pixel_strings(strings, n_pixels=2)
    except ValueError as exc:
        assert "row" in str(exc)
    else:
        assert out.shape == (len(strings), 2) and out.dtype == np.uint8


def test_normalizer_scales_uint8_to_float32_unit_range(pixel_rows):
    out = PixelNormalizer().fit_transform(pixel_rows)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_allclose(out, pixel_rows / 255.0, rtol=1e-6)


def test_normalizer_standardises_each_image_and_maps_blank_images_to_zero(pixel_rows):
    out = PixelNormalizer(method="standardize").fit_transform(pixel_rows)
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_allclose(out[2:].mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out[2:].std(axis=1), 1.0, rtol=1e-4)


def test_normalizer_pandas_output_and_feature_count_check(pixel_rows):
    normalizer = (
        PixelNormalizer()
        .set_output(transform="pandas")
        .fit(pd.DataFrame(pixel_rows[:3], columns=[f"pixel{i}" for i in range(2304)]))
    )
    frame = normalizer.transform(
        pd.DataFrame(pixel_rows[3:5], columns=[f"pixel{i}" for i in range(2304)])
    )
    assert list(frame.columns[:2]) == ["pixel0", "pixel1"]
    with pytest.raises(
        ValueError, match="X has 10 features, but PixelNormalizer is expecting 2304"
    ):
        PixelNormalizer().fit(pixel_rows).transform(np.zeros((1, 10)))


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(2, 30))),
    st.sampled_from(["scale", "standardize"]),
)
def test_normalizer_output_is_finite_float32_of_the_same_shape(pixels, method):
    out = PixelNormalizer(method=method).fit_transform(pixels)
    assert out.dtype == np.float32 and out.shape == pixels.shape
    assert np.isfinite(out).all()
    if method == "scale":
        np.testing.assert_allclose(out * 255, pixels, atol=1e-4)
    else:
        np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: PixelNormalizer(max_value=1e-45),
        lambda: PixelNormalizer(max_value=float("inf")),
        lambda: PixelStringParser(n_pixels=10**12),
    ],
    ids=["tiny max_value", "infinite max_value", "huge n_pixels"],
)
def test_parameters_that_would_overflow_are_refused(make):
    with pytest.raises(ValueError, match="parameter of Pixel"):
        make().fit(np.zeros((1, 4), np.uint8))


# Bad input: pixel strings that could shift rows, and None
def test_a_row_with_a_line_break_cannot_shift_the_next_rows():
    with pytest.raises(ValueError, match="row 0: .*line break"):
        parse_pixel_strings(["1 2\n3 4", ""], 2)
    with pytest.raises(ValueError, match="row 0"):
        parse_pixel_strings(["1 2\n3 4", "5 6"], 2)
    assert parse_pixel_strings([" 1 2\n"], 2).tolist() == [[1, 2]]  # edges may be ragged


def test_the_parser_refuses_none_clearly():
    with pytest.raises(ValueError, match="got NoneType"):
        PixelStringParser().transform(None)
