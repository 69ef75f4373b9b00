import numpy as np
import pytest

from explorer.core.latents import LatentWalk, SamplingPolicy, dimension_order, sample_latents, slerp


def test_sampling_is_seeded_and_prefix_stable():
    a = sample_latents(4, 5, SamplingPolicy(seed=3))
    b = sample_latents(9, 5, SamplingPolicy(seed=3))
    assert a.dtype == np.float32 and a.shape == (4, 5)
    np.testing.assert_array_equal(a, b[:4])
    assert not np.allclose(a, sample_latents(4, 5, SamplingPolicy(seed=4)))


def test_truncation_and_temperature():
    z = sample_latents(500, 16, SamplingPolicy(seed=0, truncation=0.5))
    assert np.abs(z).max() <= 0.5 + 1e-6
    z2 = sample_latents(500, 16, SamplingPolicy(seed=0, temperature=0.5))
    np.testing.assert_allclose(z2, sample_latents(500, 16, SamplingPolicy(seed=0)) * 0.5, rtol=1e-6)
    with pytest.raises(ValueError):
        SamplingPolicy(temperature=0)


def test_slerp_endpoints_and_shell():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 32)).astype(np.float32)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-5)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-5)
    mid = slerp(a, b, 0.5)
    expected = (np.linalg.norm(a, axis=1) + np.linalg.norm(b, axis=1)) / 2
    np.testing.assert_allclose(np.linalg.norm(mid, axis=1), expected, rtol=1e-5)


def test_walk_stays_on_shell_and_moves_smoothly():
    walk = LatentWalk(sample_latents(6, 20), seed=1, speed=1.0)
    prev = walk.z.copy()
    for _ in range(50):
        z = walk.step(1 / 60)
        np.testing.assert_allclose(np.linalg.norm(z, axis=1), np.sqrt(20), rtol=1e-4)
        cos = np.sum(z * prev, axis=1) / 20
        assert np.all(np.arccos(np.clip(cos, -1, 1)) <= 1.0 / 60 + 1e-3)  # never faster than speed
        prev = z.copy()


def test_dimension_order():
    assert list(dimension_order(np.array([0.1, 3.0, 1.0, 3.0]))) == [1, 3, 2, 0]


def test_frame_clock():
    from explorer.core.grid import FrameClock

    clock = FrameClock()
    for i in range(11):
        clock.tick(i * 0.05)  # 20 fps
    assert abs(clock.fps - 20) < 0.01
    slow = FrameClock()
    for i in range(4):
        slow.tick(i * 2.0)  # one frame every 2 s
    assert abs(slow.fps - 0.5) < 1e-6
