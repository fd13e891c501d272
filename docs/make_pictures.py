"""Write the pictures the docs show (run after a change to detection or drawing).

    python docs/make_pictures.py

- ``_static/astronaut_annotated.jpg``: scikit-image's astronaut photo through
  ``fercls.detect_emotions`` and ``fercls.photos.annotate`` (the quickstart's
  first example).
- ``_static/tilted_faces.jpg``: the same photo turned by 0, 20, 35 and 45
  degrees, annotated with each detector (the faces guide).
"""

from pathlib import Path

import numpy as np

STATIC = Path(__file__).resolve().parent / "_static"
ANGLES = (0, 20, 35, 45)


def turned(image, degrees):
    import cv2

    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def main():
    import cv2
    from skimage import data

    from fercls import FaceCropper, detect_emotions
    from fercls.photos import annotate

    STATIC.mkdir(exist_ok=True)
    photo = data.astronaut()
    annotated = annotate(photo, detect_emotions(photo))
    save(STATIC / "astronaut_annotated.jpg", annotated)

    rows = []
    for detector in ("haar", "mtcnn"):
        cropper = FaceCropper(detector=detector)
        tiles = []
        for degrees in ANGLES:
            image = turned(photo, degrees)[0:384, 64:448]
            tile = annotate(image, detect_emotions(image, cropper=cropper))
            caption = f"{detector}, {degrees} deg"
            cv2.putText(tile, caption, (8, 372), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 3)
            cv2.putText(tile, caption, (8, 372), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 1)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    grid = cv2.resize(np.vstack(rows), None, fx=0.625, fy=0.625, interpolation=cv2.INTER_AREA)
    save(STATIC / "tilted_faces.jpg", grid)


def save(path, rgb):
    import cv2

    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


if __name__ == "__main__":
    main()
