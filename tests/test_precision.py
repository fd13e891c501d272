def test_precision_auto_picks_bfloat16_exactly_where_the_cpu_has_it(monkeypatch):
    import fercls._precision as module

    monkeypatch.setattr(module, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert module.resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(module, "cpu_flags", lambda: {"avx2"})
    assert module.resolve_precision("auto") == "float32"
    assert module.resolve_precision("mixed_float16") == "mixed_float16"


def test_dtype_policy_is_restored_after_building():
    import keras

    from fercls._precision import dtype_policy

    before = keras.config.dtype_policy().name
    with dtype_policy("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == before
