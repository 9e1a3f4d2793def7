"""LogME against a brute-force evidence maximisation: the Gaussian marginal likelihood of each one-hot label column,
y ~ N(0, alpha^-1 F F^T + beta^-1 I), evaluated directly as an n x n density and maximised over a grid."""

import numpy as np
import pytest
from scipy.optimize import minimize

from worker.transfer.logme import class_evidence, logme


def direct_log_evidence(f: np.ndarray, y: np.ndarray, log_alpha: float, log_beta: float) -> float:
    """log N(y; 0, F F^T / alpha + I / beta), from the density itself (no SVD, no fixed point)."""
    n = len(y)
    covariance = f @ f.T / np.exp(log_alpha) + np.eye(n) / np.exp(log_beta)
    _, log_det = np.linalg.slogdet(covariance)
    return float(-0.5 * (n * np.log(2 * np.pi) + log_det + y @ np.linalg.solve(covariance, y)))


def brute_force_max(f: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """The max over (log alpha, log beta) of the direct evidence: a 49 x 49 grid, then a local refinement."""
    grid = np.linspace(-12, 12, 49)
    values = np.array([[direct_log_evidence(f, y, a, b) for b in grid] for a in grid])
    i, j = np.unravel_index(np.argmax(values), values.shape)
    best = minimize(
        lambda p: -direct_log_evidence(f, y, p[0], p[1]),
        x0=[grid[i], grid[j]],
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000},
    )
    return -best.fun, float(np.exp(best.x[0])), float(np.exp(best.x[1]))


def fixed_inputs(n: int, dim: int, classes: int, seed: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """Features whose first directions carry the class (with `signal` strength) plus noise, and labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    centres = rng.normal(0, signal, (classes, dim))
    return centres[labels] + rng.normal(0, 1, (n, dim)), labels


@pytest.mark.parametrize(("n", "dim", "classes", "seed"), [(30, 5, 3, 0), (40, 8, 2, 1), (12, 20, 3, 2)])
def test_each_class_evidence_is_the_brute_force_maximum(n, dim, classes, seed):
    f, labels = fixed_inputs(n, dim, classes, seed, signal=1.5)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    for k in range(classes):
        y = (labels == k).astype(np.float64)
        ours, alpha, beta = class_evidence(u.T @ y, s**2, n=n, dim=dim, y_norm2=float(y @ y))
        expected, _, _ = brute_force_max(f, y)
        assert ours == pytest.approx(expected / n, rel=1e-6, abs=1e-8)
        # And the closed form is the density at the fixed point's own alpha and beta.
        assert ours * n == pytest.approx(direct_log_evidence(f, y, np.log(alpha), np.log(beta)), rel=1e-9)


def test_the_score_is_the_mean_over_classes_and_is_invariant_to_the_order_of_samples():
    f, labels = fixed_inputs(30, 5, 3, 3, signal=1.0)
    per_class = [brute_force_max(f, (labels == k).astype(np.float64))[0] / 30 for k in range(3)]
    assert logme(f, labels) == pytest.approx(np.mean(per_class), rel=1e-6)
    order = np.random.default_rng(0).permutation(30)
    assert logme(f[order], labels[order]) == pytest.approx(logme(f, labels), rel=1e-9)


def test_features_that_carry_the_labels_score_higher_than_noise():
    informative, labels = fixed_inputs(200, 16, 4, 4, signal=3.0)
    noise = np.random.default_rng(5).normal(0, 1, informative.shape)
    assert logme(informative, labels) > logme(noise, labels) + 0.1


def test_rank_deficient_features_match_their_full_rank_part():
    f, labels = fixed_inputs(25, 4, 2, 6, signal=1.0)
    padded = np.concatenate([f, f[:, :1] * 2.0], axis=1)  # a fifth, linearly dependent feature
    y = (labels == 0).astype(np.float64)
    expected, _, _ = brute_force_max(padded, y)
    assert logme(padded, labels) == pytest.approx(
        np.mean([brute_force_max(padded, (labels == k).astype(np.float64))[0] / 25 for k in range(2)]), rel=1e-6
    )
    assert expected < 0  # a density of 25 values: the check above compares real numbers


def test_features_that_are_all_zero_score_as_the_noise_model_alone():
    labels = np.arange(20) % 2
    y = (labels == 0).astype(np.float64)
    # With F = 0 the evidence is log N(y; 0, I / beta), whatever alpha; its maximum is at beta = n / |y|^2.
    expected = max(direct_log_evidence(np.zeros((20, 3)), y, 0.0, b) for b in np.linspace(-3, 3, 6001)) / 20
    assert logme(np.zeros((20, 3)), labels) == pytest.approx(expected, rel=1e-6)
    assert logme(np.zeros((20, 3)), labels) < logme(fixed_inputs(20, 3, 2, 7, signal=2.0)[0], labels)


def test_the_score_does_not_depend_on_the_scale_of_the_features_even_with_fewer_samples_than_features():
    rng = np.random.default_rng(8)
    f, labels = np.maximum(rng.normal(size=(10, 512)), 0), np.arange(10) % 2  # every class fitted exactly
    score = logme(f, labels)
    assert np.isfinite(score)
    for scale in (1e-8, 1e6):
        assert logme(f * scale, labels) == pytest.approx(score, rel=1e-6)
