"""Emotions of the faces in a photo with the bundled model: no training, no network.

Without --image it uses scikit-image's astronaut photo (bundled with
scikit-image). Writes the photo with boxes and labels to --output.

    python examples/pretrained_photo.py --quick
    python examples/pretrained_photo.py --image group.jpg --output group-annotated.png
"""

import argparse
from pathlib import Path

import cv2

from fercls import load_pretrained
from fercls.faces import read_image
from fercls.video import draw_faces, faces_in_image


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, help="a photo (default: the astronaut)")
    parser.add_argument("--output", type=Path, default=Path("annotated.png"))
    parser.add_argument("--quick", action="store_true", help="(runs the same; it is quick)")
    args = parser.parse_args()

    if args.image is None:
        from skimage import data

        image = data.astronaut()
    else:
        image = read_image(args.image)
    model = load_pretrained()
    faces = faces_in_image(image, model)  # every face, largest first
    for face in faces:
        top = sorted(face.probabilities.items(), key=lambda kv: -kv[1])[:3]
        print(face.box, face.emotion, ", ".join(f"{k} {v:.2f}" for k, v in top))
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    cv2.imwrite(str(args.output), draw_faces(bgr.copy(), faces))
    print(f"{len(faces)} face(s); annotated image in {args.output}")


if __name__ == "__main__":
    main()
