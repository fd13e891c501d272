"""Hard faces: recall, false faces and emotion accuracy of each face detector
on composed scenes we own; prints one JSON line.

FER2013 faces are 48x48 crops, too small to test a detector as they are, so
scenes are composed: PrivateTest faces (never trained on) are upscaled and
pasted onto plain backgrounds or face-free scikit-image photos, under one
condition each (size, tilt, mirroring, blur, darkness, occlusion, a crowd of
three), and face-free scikit-image photos and textures count false faces. A
face is found when a detected box's centre lies within 35 % of the face's side
from the true centre and its size is 0.4-2.5x the face's; every other
detection is a false face. The emotion accuracy is over the faces found,
classified by the bundled model from each detector's crop.

Part two re-detects PrivateTest faces upscaled to 192 px and rotated by 0, 20
and 35 degrees, and reports the bundled model's accuracy over all of them
(a face not found counts as wrong) and over the faces found, beside its
accuracy on the original 48x48 crops of the same images.

    python benchmarks/hard_faces.py [--per-condition 80] [--rotated 600]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fercls.datasets import fer2013_path

DEFAULT_DATA = fer2013_path(__file__)

# name: (face side range in pixels, tilt in degrees, extra effect, faces per scene)
CONDITIONS = {
    "upright": ((80, 160), 0, None, 1),
    "small (24-40 px)": ((24, 40), 0, None, 1),
    "large (200-300 px)": ((200, 300), 0, None, 1),
    "tilted 20°": ((80, 160), 20, None, 1),
    "tilted 35°": ((80, 160), 35, None, 1),
    "tilted 45°": ((80, 160), 45, None, 1),
    "mirrored": ((80, 160), 0, "mirror", 1),
    "blurred": ((80, 160), 0, "blur", 1),
    "dark": ((80, 160), 0, "dark", 1),
    "occluded (lower third)": ((80, 160), 0, "occlude", 1),
    "three faces": ((70, 110), 0, None, 3),
}
SCENE = (400, 400)
# (name, detector options): Haar as before, MTCNN upright only without and with
# eye alignment, and MTCNN also searching tilted heads (the default).
DETECTORS = [
    ("haar", {"detector": "haar"}),
    ("mtcnn upright, box crop", {"detector": "mtcnn", "align": False, "tilts": ()}),
    ("mtcnn upright, aligned", {"detector": "mtcnn", "align": True, "tilts": ()}),
    ("mtcnn ±40°, aligned (default)", {"detector": "mtcnn", "align": True, "tilts": (-40, 40)}),
]


def face_free_images() -> list[np.ndarray]:
    """Photos and textures without a face, several crops and turns of each: 40 images."""
    from skimage import data

    sources = [
        data.chelsea(), data.coffee(), data.rocket(), data.brick(), data.grass(), data.gravel(),
        data.coins(), data.moon(), data.hubble_deep_field(), data.immunohistochemistry(),
    ]  # fmt: skip
    images = []
    for source in sources:
        source = source if source.ndim == 3 else np.repeat(source[:, :, None], 3, axis=2)
        h, w = source.shape[:2]
        images += [
            source,
            np.ascontiguousarray(source[: h * 3 // 4, w // 4 :]),
            np.ascontiguousarray(np.rot90(source)),
            np.ascontiguousarray(source[:, ::-1]),
        ]
    return images


def background(rng, photos) -> np.ndarray:
    """A plain background (half the time) or a random crop of a face-free photo."""
    import cv2

    if rng.random() < 0.5:
        return np.full((*SCENE, 3), rng.integers(20, 235, size=3), np.uint8)
    photo = photos[rng.integers(len(photos))]
    return cv2.resize(photo, SCENE[::-1], interpolation=cv2.INTER_AREA)


def paste_face(scene, face48, side, angle, centre, effect) -> None:
    """Upscale a 48x48 face to ``side`` px, turn it by ``angle`` and paste it
    (in place) with its centre at ``centre``."""
    import cv2

    face = cv2.resize(face48, (side, side), interpolation=cv2.INTER_CUBIC)
    if effect == "mirror":
        face = face[:, ::-1]
    if effect == "occlude":
        face = face.copy()
        face[side * 2 // 3 :] = 128
    face = np.repeat(face[:, :, None], 3, axis=2)
    big = int(np.ceil(side * 1.5))
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
    matrix[:, 2] += (big - side) / 2
    turned = cv2.warpAffine(face, matrix, (big, big), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones((side, side), np.uint8), matrix, (big, big)) > 0
    x0, y0 = int(centre[0] - big / 2), int(centre[1] - big / 2)
    region = scene[y0 : y0 + big, x0 : x0 + big]
    region[mask] = turned[mask]


def compose(rng, faces48, condition, photos):
    """One scene and its true faces as (centre x, centre y, side, index)."""
    import cv2

    sides, tilt, effect, count = CONDITIONS[condition]
    scene = background(rng, photos)
    truths, tries = [], 0
    while len(truths) < count and tries < 100:
        tries += 1
        side = int(rng.integers(sides[0], sides[1] + 1))
        reach = int(np.ceil(side * 1.5 / 2)) + 1
        if reach * 2 >= min(SCENE):
            continue
        centre = rng.integers(reach, np.array(SCENE[::-1]) - reach)
        if any(np.hypot(*(centre - t[:2])) < (side + t[2]) * 0.8 for t in truths):
            continue
        index = len(truths)
        angle = tilt * rng.choice([-1, 1])
        paste_face(scene, faces48[index], side, angle, centre, effect)
        truths.append(np.array([centre[0], centre[1], side, index]))
    if effect == "blur":
        scene = cv2.GaussianBlur(scene, (0, 0), sigmaX=3)
    if effect == "dark":
        scene = (scene.astype(np.float32) * 0.25).astype(np.uint8)
    return scene, truths


def match(located, truths) -> tuple[dict, int]:
    """Which detection (row index) found which true face, and how many are false."""
    found, used = {}, set()
    for t, (cx, cy, side, _) in enumerate(truths):
        best, best_distance = None, np.inf
        for d, (x, y, w, h) in enumerate(located[:, :4]):
            distance = np.hypot(x + w / 2 - cx, y + h / 2 - cy)
            size_ok = 0.4 * side <= np.sqrt(w * h) <= 2.5 * side
            if d not in used and size_ok and distance <= 0.35 * side and distance < best_distance:
                best, best_distance = d, distance
        if best is not None:
            found[t] = best
            used.add(best)
    return found, len(located) - len(used)


def scenes_part(args, data, model) -> dict:
    from fercls.faces import FaceCropper

    rng = np.random.default_rng(args.seed)
    private = np.flatnonzero((data.usage == "PrivateTest") & (data.data.std(axis=1) > 5))
    order = rng.permutation(private)
    photos = face_free_images()
    croppers = {name: FaceCropper(**options) for name, options in DETECTORS}
    names = np.asarray(data.target_names)
    results = {name: {} for name, _ in DETECTORS}
    seconds = {name: 0.0 for name in croppers}  # detection only
    images = 0
    start = 0
    for condition, (_, _, _, count) in CONDITIONS.items():
        tallies = {name: [0, 0, 0, 0] for name in croppers}  # faces, found, correct, false
        for _ in range(args.per_condition // count):
            chosen = order[start : start + count]
            start += count
            scene, truths = compose(rng, data.images[chosen], condition, photos)
            images += 1
            located_by = {}
            for name, cropper in croppers.items():
                key = (cropper.detector, tuple(cropper.tilts))
                if key not in located_by:
                    t0 = time.perf_counter()
                    located_by[key] = cropper.locate(scene)
                    seconds[name] += time.perf_counter() - t0
                located = located_by[key]
                found, false = match(located, truths)
                crops = [cropper.crop(scene, located[d]).reshape(-1) for d in found.values()]
                labels = names[data.target[chosen[[int(truths[t][3]) for t in found]]]]
                correct = int((model.predict(np.stack(crops)) == labels).sum()) if crops else 0
                tally = tallies[name]
                tally[0] += len(truths)
                tally[1] += len(found)
                tally[2] += correct
                tally[3] += false
        for name, (faces, found, correct, false) in tallies.items():
            results[name][condition] = {
                "faces": faces,
                "recall": round(found / faces, 3),
                "emotion_accuracy_of_found": round(correct / found, 3) if found else None,
                "false_faces_per_image": round(false / (args.per_condition // count), 3),
            }
    empty = face_free_images()
    for name, cropper in croppers.items():
        false = sum(len(cropper.locate(image)) for image in empty)
        results[name]["face-free images"] = {
            "images": len(empty),
            "false_faces": false,
            "false_faces_per_image": round(false / len(empty), 3),
        }
    reference = order[:start]
    return {
        "scenes": images,
        "faces": int(start),
        "bundled_model_accuracy_on_the_original_crops": round(
            float((model.predict(data.data[reference]) == names[data.target[reference]]).mean()), 4
        ),
        "detection_seconds_per_scene": {n: round(s / images, 4) for n, s in seconds.items() if s},
        "detectors": results,
    }


def rotated_part(args, data, model) -> dict:
    """PrivateTest faces upscaled to 192 px, padded, rotated, re-detected."""
    import cv2

    from fercls.faces import FaceCropper

    rng = np.random.default_rng(args.seed + 1)
    private = np.flatnonzero(data.usage == "PrivateTest")
    chosen = rng.choice(private, args.rotated, replace=False)
    labels = np.asarray(data.target_names)[data.target[chosen]]
    side, pad = 192, 96
    out = {
        "images": int(args.rotated),
        "accuracy_on_the_48px_crops": round(
            float((model.predict(data.data[chosen]) == labels).mean()), 4
        ),
    }
    croppers = {name: FaceCropper(**options) for name, options in DETECTORS}
    for angle in (0, 20, 35):
        rows = {name: [] for name in croppers}
        found_labels = {name: [] for name in croppers}
        for image, label in zip(data.images[chosen], labels, strict=True):
            big = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
            big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            centre = (big.shape[1] / 2, big.shape[0] / 2)
            matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
            big = cv2.warpAffine(big, matrix, big.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
            located_by = {}  # one detection per detector, cropped both ways
            for name, cropper in croppers.items():
                key = (cropper.detector, tuple(cropper.tilts))
                if key not in located_by:
                    located_by[key] = cropper.locate(big)
                located = located_by[key]
                if len(located):
                    rows[name].append(cropper.crop(big, located[0]).reshape(-1))
                    found_labels[name].append(label)
        for name in croppers:
            found = rows[name]
            correct = (
                int((model.predict(np.stack(found)) == found_labels[name]).sum()) if found else 0
            )
            out[f"{angle}° {name}"] = {
                "found": round(len(found) / len(chosen), 3),
                "accuracy_all": round(correct / len(chosen), 4),
                "accuracy_of_found": round(correct / len(found), 4) if found else None,
            }
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-condition", type=int, default=80, help="faces per condition")
    parser.add_argument("--rotated", type=int, default=600, help="PrivateTest faces in part two")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-examples", type=Path, help="write a PNG of sample scenes here")
    args = parser.parse_args()
    from fercls import load_fer2013, load_pretrained

    data = load_fer2013(args.data)
    model = load_pretrained(with_parser=False)
    if args.save_examples:
        save_examples(args.save_examples, data)
    result = {"benchmark": "hard_faces", **vars(args)}
    result.update(data=str(args.data), save_examples=str(args.save_examples))
    result["model"] = bundled_model_name()
    result["scenes"] = scenes_part(args, data, model)
    if args.rotated:
        result["rotated_private_test"] = rotated_part(args, data, model)
    print(json.dumps(result))


def bundled_model_name() -> str:
    """Which bundled weights classified the faces (from their card)."""
    from fercls.persistence import read_card
    from fercls.pretrained import bundled_model_folder

    card = read_card(bundled_model_folder())
    accuracy = card["private_accuracy"]
    return f"the bundled model of epoch {card['best_epoch']} (PrivateTest {accuracy:.2%})"


def save_examples(path, data) -> None:
    """One scene per condition, side by side, to look at."""
    import cv2

    rng = np.random.default_rng(0)
    photos = face_free_images()
    private = np.flatnonzero((data.usage == "PrivateTest") & (data.data.std(axis=1) > 5))
    tiles = []
    for condition in CONDITIONS:
        scene, _ = compose(rng, data.images[rng.choice(private, 3)], condition, photos)
        tile = cv2.resize(scene, (200, 200), interpolation=cv2.INTER_AREA)
        cv2.putText(
            tile,
            condition.replace("°", " deg"),
            (4, 194),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (255, 255, 0),
            1,
        )
        tiles.append(tile)
    tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles), 4)])
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
