import numpy as np
import pytest

from fercls import EMOTIONS
from fercls.labels import emotion_ids, emotion_names


def test_emotions_are_the_challenge_ids_in_order():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_round_trip_between_ids_and_names():
    ids = np.arange(7)
    assert emotion_ids(emotion_names(ids)).tolist() == ids.tolist()
    assert emotion_ids([" Happy ", "SAD"]).tolist() == [3, 4]


def test_unknown_name_names_the_row():
    with pytest.raises(ValueError, match=r"row 1: unknown emotion 'joy'"):
        emotion_ids(["happy", "joy"])


@pytest.mark.parametrize("ids", [[7], [-1], [1.5]])
def test_bad_ids_are_rejected(ids):
    with pytest.raises(ValueError, match="0..6"):
        emotion_names(ids)
