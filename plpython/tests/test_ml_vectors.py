import numpy as np
import pytest
from fake_plpy import halfvec_blob, halfvec_send

from mediatag_ml.vectors import decode_halfvecs, format_vector, parse_vector


def test_decode_roundtrip():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((5, 7)).astype(np.float16)
    blob = halfvec_blob(m)
    out = decode_halfvecs(blob, 7)
    assert out.shape == (5, 7) and out.dtype == np.float32
    np.testing.assert_array_equal(out, m.astype(np.float32))


def test_decode_rejects_wrong_dim():
    with pytest.raises(ValueError, match="not a whole number"):
        decode_halfvecs(halfvec_send(np.ones(3)), 4)


def test_empty_blob():
    assert decode_halfvecs(None, 3).shape == (0, 3)


def test_format_parse_roundtrip():
    v = np.array([0.1, -2.5, 3e-5], dtype=np.float32)
    np.testing.assert_allclose(parse_vector(format_vector(v)), v, rtol=1e-6)
