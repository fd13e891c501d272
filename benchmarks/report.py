"""Regenerate docs/benchmarks.md (and the export table the docs include) from benchmark results.

    python benchmarks/report.py          # render from benchmarks/results/*.json
    python benchmarks/report.py --run    # run every benchmark first (about 25 min on 2 cores)

Each benchmark script prints one JSON line; --run stores it in
benchmarks/results/<name>.json. SCRIPTS are the benchmarks --run runs;
NOT_RUN names the others in this folder and why. Training and its accuracy
figures live in training/ (hours, not minutes) and are recorded in
docs/model_card.md instead.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOCS = HERE.parent / "docs"
SCRIPTS = [
    "parse_pixels",
    "load_data",
    "fit_overhead",
    "fit_startup",
    "predict_latency",
    "fit_memory",
    "grid_search_jobs",
    "export_tflite",
    "video_fps",
    "hard_faces",
    "dask_predict",
    "precision_throughput",
    "multi_worker_fit",
]
#: The other scripts in benchmarks/, and why ``--run`` leaves them out.
NOT_RUN = {
    "face_crop_margin": "measures the framing constants written into fercls.faces, once "
    "per detector (--detector mtcnn > results/face_framing.json, --detector haar > "
    "results/face_framing_haar.json); rerun by hand when a detector changes",
    "student_latency": "decides once whether a larger student network may ship (its "
    "single-image latency at most twice the bundled model's); rerun by hand with "
    "--candidate FOLDER for a new candidate",
    "child_process": "not a benchmark: runs a measurement in a fresh process for "
    "fit_memory and load_data",
    "report": "this script: it renders the results of the others",
}


def run_all():
    RESULTS.mkdir(exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name in SCRIPTS:
        print(f"running {name} ...", file=sys.stderr)
        out = subprocess.run(
            [sys.executable, str(HERE / f"{name}.py")],
            cwd=HERE,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (RESULTS / f"{name}.json").write_text(out.strip().splitlines()[-1] + "\n")


def load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def machine():
    from fercls._machine import cpu_name

    return (
        f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()}, "
        f"Python {platform.python_version()}"
    )


def table(header, rows):
    """Markdown table lines: a header, the rule, one line per row."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def ratio_rows(r):
    rows = []
    if p := r.get("parse_pixels"):
        rows.append(
            (
                "Parse all 35,887 pixel strings vs per-row `np.array(s.split(), float)`",
                f"**{p['speedup']}×** faster ({p['fercls_seconds']} s vs {p['baseline_seconds']} s),"
                f" identical: {p['identical']}",
                "≥ 10×",
            )
        )
    if f := r.get("fit_overhead"):
        for arch in ("simple", "vgg_small", "vgg"):
            if a := f.get(arch):
                rows.append(
                    (
                        f"`FERClassifier.fit` vs `keras.Model.fit`, {arch}, {f['images']} images",
                        f"**{a['fit_overhead_pct']:+.1f} %** per epoch"
                        f" ({a['fercls_s_per_epoch']} s vs {a['keras_s_per_epoch']} s)",
                        "≤ +10 %",
                    )
                )
                rows.append(
                    (
                        f"`predict_proba` vs `Model.predict`, {arch}, {a['predict_images']} images",
                        f"**{a['predict_overhead_pct']:+.1f} %**"
                        f" ({a['fercls_predict_proba_s']} s vs {a['keras_predict_s']} s)",
                        "≤ +10 %",
                    )
                )
    if f := r.get("fit_startup"):
        for arch in ("simple", "vgg_small"):
            if a := f.get(arch):
                rows.append(
                    (
                        f"A new {arch} network's `fit` ({f['images']} images, one epoch), variables"
                        " built before the trace vs inside it (Keras's default)",
                        f"**{a['speedup']}×** faster ({a['fercls_builds_first_s']} s vs"
                        f" {a['keras_builds_in_trace_s']} s; train step traced"
                        f" {a['traces_fercls_builds_first']}× vs {a['traces_keras_builds_in_trace']}×)",
                        "traced once",
                    )
                )
    if p := r.get("predict_latency"):
        pipe, base = p["pipeline_predict_proba"], p["keras_model_predict"]
        rows.append(
            (
                "Single-image `predict_proba` of the pretrained pipeline vs `Model.predict`",
                f"**{base['p50_ms'] / pipe['p50_ms']:.1f}×** faster"
                f" (p50 {pipe['p50_ms']} ms vs {base['p50_ms']} ms)",
                "p50 ≤ 5 ms",
            )
        )
    if g := r.get("grid_search_jobs"):
        rows.append(
            (
                f"`GridSearchCV(n_jobs=2)` vs `n_jobs=1`, {g['fits']} fits of {g['architecture']}",
                f"**{g['speedup_n_jobs_2_rule']}×** (without the thread rule:"
                f" {g['speedup_n_jobs_2_no_rule']}×)",
                "not slower (≥ 1×)",
            )
        )
    if e := r.get("export_tflite"):
        i8 = e["tflite_int8"]
        rows.append(
            (
                "TFLite int8 single image vs the Keras pipeline",
                f"**{i8['speedup_vs_keras_pipeline']}×** faster (p50 {i8['single_image']['p50_ms']} ms),"
                f" accuracy {100 * i8['accuracy']:.2f} % vs {100 * e['keras_pipeline']['accuracy']:.2f} %",
                "int8 within 1 point",
            )
        )
    if "onnx" in (e or {}):
        o = e["onnx"]
        rows.append(
            (
                "ONNX (onnxruntime, one thread) single image vs the Keras pipeline",
                f"**{o['speedup_vs_keras_pipeline']}×** faster (p50 {o['single_image']['p50_ms']} ms),"
                f" accuracy {100 * o['accuracy']:.2f} %, {100 * o['agreement_with_keras']:.2f} %"
                " of predictions agree",
                "within 0.1 point, ≥ 99.5 % agree",
            )
        )
    if d := r.get("dask_predict"):
        rows.append(
            (
                f"`predict_partitions` on a LocalCluster of 2 workers vs one process, "
                f"{d['images']:,} images",
                f"**{d['speedup']}×** ({d['two_workers_seconds']} s vs {d['one_process_seconds']} s),"
                f" identical: {d['identical']}",
                "identical to `predict`",
            )
        )
    if m := r.get("multi_worker_fit"):
        rows.append(
            (
                f"`FERClassifier.fit` on two worker processes (MultiWorkerMirroredStrategy, one "
                f"thread each) vs one process with two threads, {m['architecture']}, "
                f"{m['images']:,} images, {m['epochs']} epochs",
                f"**{m['two_workers_speedup']}×** ({m['two_workers_seconds']} s vs"
                f" {m['one_process_seconds']} s), workers identical: {m['workers_identical']}",
                "identical weights on both workers",
            )
        )
    if t := r.get("precision_throughput"):
        speeds = t["images_per_second"]
        rows.append(
            (
                f"Training throughput, `mixed_bfloat16` vs float32, {t['architecture']}",
                f"**{t['bfloat16_speedup']}×** ({speeds['mixed_bfloat16']} vs"
                f" {speeds['float32']} images/s; CPU BF16: {', '.join(t['cpu_bf16']) or 'none'})",
                "faster where the CPU has BF16",
            )
        )
    if load_ := r.get("load_data"):
        base = load_["pandas_read_csv_only"]["seconds"]
        rows.append(
            (
                f"`load_fer2013` of the {load_['csv_mb']} MB CSV vs `pandas.read_csv` alone",
                f"**{load_['csv']['seconds'] / base:.1f}×** the time of reading without parsing"
                f" ({load_['csv']['seconds']} s vs {base} s)",
                "—",
            )
        )
        rows.append(
            (
                "`load_fer2013` of the zip again, from its decoded copy (`cache_dir`)",
                f"**{load_['copy_speedup']}×** faster than decoding it"
                f" ({load_['zip_from_copy']['seconds']} s vs {load_['zip']['seconds']} s)",
                "—",
            )
        )
    return rows


def export_table(e):
    k = e["keras_pipeline"]
    rows = [
        (
            "Keras pipeline (float32)",
            "4.9 MB weights",
            f"{100 * k['accuracy']:.2f} %",
            "",
            "",
            f"{k['single_image']['p50_ms']} ms",
        )
    ]
    exports = [(f"TFLite {name}", e[f"tflite_{name}"]) for name in ("float32", "float16", "int8")]
    if "onnx" in e:
        exports.append(("ONNX (onnxruntime)", e["onnx"]))
    for name, t in exports:
        rows.append(
            (
                name,
                f"{t['size_mb']} MB",
                f"{100 * t['accuracy']:.2f} %",
                f"{100 * t['accuracy_not_in_training']:.2f} %",
                f"{100 * t['agreement_with_keras']:.2f} %",
                f"{t['single_image']['p50_ms']} ms",
            )
        )
    header = (
        "model",
        "size",
        "PrivateTest accuracy",
        "not copies of training images",
        "agrees with Keras",
        "single image p50",
    )
    return "\n".join(table(header, rows)) + "\n"


def details(r):
    out = []
    if load_ := r.get("load_data"):
        out += [
            "## Loading",
            "",
            *table(
                ("source", "seconds", "peak memory above baseline"),
                [
                    (label, load_[key]["seconds"], f"{load_[key]['peak_extra_mb']} MB")
                    for key, label in (
                        ("zip", "Kaggle zip (35,887 JPEGs)"),
                        ("csv", f"challenge CSV ({load_['csv_mb']} MB)"),
                        (
                            "pandas_read_csv_only",
                            "`pandas.read_csv` of the CSV only (no pixel parsing)",
                        ),
                        ("zip_keeping_copy", "Kaggle zip, decoding and keeping a copy"),
                        ("zip_from_copy", "Kaggle zip again, from the copy"),
                    )
                ],
            ),
            "",
            f"The result, `data` as uint8, is {load_['result_mb']} MB; the zip's decoded copy"
            f" is {load_['copy_mb']} MB. (`python benchmarks/load_data.py`)",
            "",
        ]
    if p := r.get("parse_pixels"):
        out += [
            "## Parsing",
            "",
            f"{p['rows']:,} strings ({p['input_mb']} MB of text): {p['fercls_seconds']} s, "
            f"peak allocation {p['peak_extra_mb']} MB for a {p['result_mb']} MB result "
            f"(target: ≤ 2× the result plus the input). (`python benchmarks/parse_pixels.py`)",
            "",
        ]
    if f := r.get("fit_overhead"):
        out += [
            "## Training and batch prediction",
            "",
            f"{f['images']} FER2013 Training images, {f['epochs']} epochs, median seconds per epoch "
            "over epochs 2.., two alternating runs each (`python benchmarks/fit_overhead.py`).",
            "",
            *table(
                (
                    "architecture",
                    "Keras s/epoch",
                    "fercls s/epoch",
                    "overhead",
                    "fercls training images/s",
                    "Keras predict",
                    "fercls predict_proba",
                ),
                [
                    (
                        arch,
                        a["keras_s_per_epoch"],
                        a["fercls_s_per_epoch"],
                        f"{a['fit_overhead_pct']:+.1f} %",
                        a["fercls_train_images_per_s"],
                        f"{a['keras_predict_s']} s",
                        f"{a['fercls_predict_proba_s']} s",
                    )
                    for arch in ("simple", "vgg_small", "vgg")
                    if (a := f.get(arch))
                ],
            ),
            "",
        ]
    if p := r.get("predict_latency"):
        out += [
            "## Single-image latency",
            "",
            *table(
                ("call", "p50", "p90"),
                [
                    (label, f"{p[key]['p50_ms']} ms", f"{p[key]['p90_ms']} ms")
                    for key, label in (
                        (
                            "pipeline_predict_proba",
                            "pretrained pipeline `predict_proba` (uint8 in)",
                        ),
                        (
                            "pipeline_predict_proba_zoom_flip",
                            'the same with `test_time_augmentation="zoom_flip"`',
                        ),
                        (
                            "classifier_predict_proba",
                            "`FERClassifier.predict_proba` (normalised in)",
                        ),
                        ("keras_model_eager_call", "Keras model called eagerly"),
                        ("keras_model_predict", "`keras.Model.predict`"),
                    )
                    if key in p
                ],
            ),
            "",
            "(`python benchmarks/predict_latency.py`)",
            "",
        ]
    if m := r.get("fit_memory"):
        out += [
            "## Memory while fitting",
            "",
            "The design-card pipeline (parser, `RandomOverSampler`, normaliser, `simple` "
            "network, one epoch) on pixel strings (`python benchmarks/fit_memory.py`):",
            "",
            *table(
                ("Training images", "after oversampling", "RSS after loading", "peak RSS"),
                [
                    (
                        f"{run['n']:,}",
                        f"{run['resampled']:,}",
                        f"{run['rss_after_load_mb']} MB",
                        f"{run['peak_rss_mb']} MB",
                    )
                    for run in m["runs"]
                ],
            ),
            "",
            f"Growth: {m['training_kb_per_resampled_image']} kB per resampled training image "
            "(one image is 2.3 kB as uint8 and 9.2 kB as the float32 the network trains on: "
            "the float32 copy dominates; TensorFlow gathers batches from it and holds no copy of its own).",
            "",
        ]
    if g := r.get("grid_search_jobs"):
        out += [
            "## Parallel grid search",
            "",
            f"{g['fits']} fits of `{g['architecture']}` ({g['images_per_fit']} images, "
            f"{g['epochs']} epochs each) on {g['cores']} cores (`python benchmarks/grid_search_jobs.py`):",
            "",
            *table(
                ("setting", "seconds"),
                [
                    ("`n_jobs=1`", g["n_jobs_1_s"]),
                    (
                        "`n_jobs=2`, fercls' thread rule (cores // n_jobs TensorFlow threads per worker)",
                        g["n_jobs_2_rule_s"],
                    ),
                    (
                        "`n_jobs=2`, TensorFlow's default pools in each worker",
                        g["n_jobs_2_no_rule_s"],
                    ),
                ],
            ),
            "",
        ]
    if e := r.get("export_tflite"):
        out += [
            "## TFLite export",
            "",
            f"All {e['images']:,} PrivateTest images, TFLite interpreter with one thread "
            "(`python benchmarks/export_tflite.py`):",
            "",
            export_table(e),
        ]
    if v := r.get("video_fps"):
        out += [
            "## Video",
            "",
            f"{v['frames']} frames of 640×480 with one moving face, the bundled model, all "
            "settings in one run (`python benchmarks/video_fps.py`):",
            "",
            video_table(v),
            "",
        ]
    if h := r.get("hard_faces"):
        out += [
            "## Hard faces",
            "",
            hard_faces_intro(h),
            "",
            hard_faces_table(h),
            "",
            rotated_table(h),
            "",
        ]
    return out


def video_table(v) -> str:
    """Frames per second per detector and detection interval, against Haar on every frame."""
    rows = [
        (
            s["detector"],
            s["detect_every"],
            f"{s['fps']:.1f}",
            f"**{s['fps_ratio_to_haar_every_frame']:.2f}×**",
            f"{s['ms_per_frame_finding']:.1f} ms",
            f"{s['ms_per_frame_classification']:.1f} ms",
        )
        for s in v["settings"]
    ]
    header = (
        "detector", "detect every", "frames/s", "vs Haar on every frame",
        "finding faces per frame", "classifying per frame",
    )  # fmt: skip
    return "\n".join(table(header, rows)) + "\n"


def hard_faces_intro(h) -> str:
    s = h["scenes"]
    return (
        f"{s['faces']:,} FER2013 PrivateTest faces upscaled and pasted into {s['scenes']:,} "
        "composed scenes (plain backgrounds or face-free scikit-image photos), one condition "
        "per scene, and 40 face-free photos and textures "
        f"(`python benchmarks/hard_faces.py`, seed {h['seed']}). Each cell: faces found "
        "(recall) · emotion accuracy of the faces found (bundled model) · false faces per "
        "image. The bundled model's accuracy on the same faces' original 48×48 crops is "
        f"{s['bundled_model_accuracy_on_the_original_crops']:.1%}."
        + (f" Classified by {h['model']}." if h.get("model") else "")
    )


def hard_faces_table(h) -> str:
    """One row per condition, one column per detector."""
    detectors = h["scenes"]["detectors"]
    names = list(detectors)
    rows = []
    for condition in detectors[names[0]]:
        cells = []
        for name in names:
            c = detectors[name][condition]
            if "recall" in c:
                accuracy = c["emotion_accuracy_of_found"]
                accuracy = "–" if accuracy is None else f"{accuracy:.0%}"
                cells.append(f"{c['recall']:.0%} · {accuracy} · {c['false_faces_per_image']:.2f}")
            else:
                cells.append(f"{c['false_faces']} false faces in {c['images']} images")
        rows.append((condition, *cells))
    seconds = h["scenes"]["detection_seconds_per_scene"]
    rows.append(
        (
            "detection time per scene",
            *(f"{seconds[n]:.2f} s" if n in seconds else "(shared)" for n in names),
        )
    )
    return "\n".join(table(("condition", *names), rows)) + "\n"


def rotated_table(h) -> str:
    """The bundled model on PrivateTest faces upscaled, rotated and re-detected."""
    r = h["rotated_private_test"]
    keys = [k for k in r if "°" in k]
    angles = list(dict.fromkeys(k.split(" ", 1)[0] for k in keys))
    names = list(dict.fromkeys(k.split(" ", 1)[1] for k in keys))
    rows = [
        (
            name,
            *(
                f"{r[f'{a} {name}']['found']:.0%} found, {r[f'{a} {name}']['accuracy_all']:.1%} "
                f"({r[f'{a} {name}']['accuracy_of_found']:.1%} of found)"
                for a in angles
            ),
        )
        for name in names
    ]
    intro = (
        f"{r['images']} PrivateTest faces upscaled to 192 px, padded, rotated and re-detected; "
        "accuracy over all of them (a face not found counts as wrong) and over the faces "
        f"found. On their original 48×48 crops the bundled model scores "
        f"{r['accuracy_on_the_48px_crops']:.1%}."
    )
    return intro + "\n\n" + "\n".join(table(("detector", *angles), rows)) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run every benchmark first")
    args = parser.parse_args()
    if args.run:
        run_all()
    results = {name: load(name) for name in SCRIPTS}
    results = {k: v for k, v in results.items() if v is not None}
    lines = [
        "# Benchmarks",
        "",
        "*Generated by `python benchmarks/report.py` from `benchmarks/results/`; "
        "`python benchmarks/report.py --run` re-measures everything.*",
        "",
        f"Machine of the latest re-measurement: {machine()}; rows not re-measured "
        "since may come from another 2-core machine of the project. No GPU. Each "
        "comparison was measured in one run, so the ratios hold on a shared machine "
        "where absolute times drift.",
        "",
        "## Ratios",
        "",
        *table(("comparison", "measured", "target"), ratio_rows(results)),
    ]
    lines += ["", *details(results)]
    (DOCS / "benchmarks.md").write_text("\n".join(lines).rstrip() + "\n")
    if "export_tflite" in results:
        (DOCS / "_export_table.md").write_text(export_table(results["export_tflite"]))
    if "video_fps" in results:
        (DOCS / "_video_table.md").write_text(video_table(results["video_fps"]))
    if "hard_faces" in results:
        h = results["hard_faces"]
        (DOCS / "_hard_faces_table.md").write_text(
            hard_faces_intro(h) + "\n\n" + hard_faces_table(h) + "\n" + rotated_table(h)
        )
    print(f"wrote {DOCS / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
