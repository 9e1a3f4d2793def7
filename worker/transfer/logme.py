"""LogME (You, Liu, Wang, Long, ICML 2021): how well a backbone's features suit a labelled dataset, without training.

For each class k, the one-hot column y_k is modelled as a linear function of the features F (n x D) with a
Gaussian prior on the weights, w ~ N(0, alpha^-1 I), and Gaussian noise, y_k | F, w ~ N(F w, beta^-1 I). The
evidence (marginal likelihood) p(y_k | F, alpha, beta) is maximised over alpha and beta by the paper's
fixed-point iteration (its Algorithm 1, after MacKay): with sigma_i the squared singular values of F and
z = U^T y_k the label's coordinates along F's left singular vectors,

    gamma = sum_i beta sigma_i / (alpha + beta sigma_i)      (effective number of parameters)
    m^T m = sum_i beta^2 sigma_i z_i^2 / (alpha + beta sigma_i)^2
    ||F m - y||^2 = sum_i (alpha z_i / (alpha + beta sigma_i))^2 + ||y||^2 - ||z||^2
    alpha <- gamma / m^T m,   beta <- (n - gamma) / ||F m - y||^2

and the log evidence at the optimum is

    L = D/2 log alpha + n/2 log beta - n/2 log 2 pi - beta/2 ||F m - y||^2 - alpha/2 m^T m
        - 1/2 log |alpha I_D + beta F^T F|.

LogME is L / n averaged over the classes: higher means the features separate the classes more linearly.
One SVD of F serves every class, so the cost is that SVD plus O(C * min(n, D)) per iteration.
"""

import numpy as np

# The iteration typically settles in a few steps; with fewer samples than features a class that the features fit
# exactly sends beta towards infinity slowly (thousands of steps, each O(min(n, D))), which the cap allows.
MAX_ITERATIONS = 20_000
TOLERANCE = 1e-9  # relative change of alpha and of beta at which it stops
BOUNDS = (1e-30, 1e30)


def class_evidence(z: np.ndarray, sigma: np.ndarray, *, n: int, dim: int, y_norm2: float) -> tuple[float, float, float]:
    """(log evidence / n, alpha, beta) of one label column, from its projections z onto F's singular vectors."""
    z2 = z**2
    outside = max(y_norm2 - float(z2.sum()), 0.0)  # the part of y that no linear function of F reaches
    if len(sigma) == 0:  # features that are all zero: the evidence is the noise model's, maximised at beta = n/|y|^2
        beta = n / max(y_norm2, 1e-300)
        return float((np.log(beta) - np.log(2 * np.pi) - 1) / 2), float("inf"), beta
    alpha, beta = 1.0, 1.0
    for _ in range(MAX_ITERATIONS):
        gamma, m2, residual2 = _statistics(alpha, beta, z2, sigma, outside)
        # Bounded: when the features fit a class exactly (n <= rank) beta grows without end, and the evidence
        # levels off long before these bounds.
        new_alpha = min(max(gamma / max(m2, 1e-300), BOUNDS[0]), BOUNDS[1])
        new_beta = min(max((n - gamma) / max(residual2, 1e-300), BOUNDS[0]), BOUNDS[1])
        converged = abs(new_alpha - alpha) <= TOLERANCE * alpha and abs(new_beta - beta) <= TOLERANCE * beta
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    _, m2, residual2 = _statistics(alpha, beta, z2, sigma, outside)
    log_det = float(np.log(alpha + beta * sigma).sum()) + (dim - len(sigma)) * np.log(alpha)
    evidence = (
        dim / 2 * np.log(alpha)
        + n / 2 * np.log(beta)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * residual2
        - alpha / 2 * m2
        - log_det / 2
    )
    return float(evidence / n), alpha, beta


def _statistics(
    alpha: float, beta: float, z2: np.ndarray, sigma: np.ndarray, outside: float
) -> tuple[float, float, float]:
    """gamma, m^T m and ||F m - y||^2 at (alpha, beta), where m is the posterior mean of the weights."""
    denominator = alpha + beta * sigma
    gamma = float((beta * sigma / denominator).sum())
    m2 = float((beta**2 * sigma * z2 / denominator**2).sum())
    residual2 = float(((alpha / denominator) ** 2 * z2).sum()) + outside
    return gamma, m2, residual2


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """The LogME score of n x D features for n integer labels: the mean over classes of the max log evidence / n."""
    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    n, dim = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > s.max(initial=0.0) * 1e-10 if len(s) else s.astype(bool)  # rank-deficient directions add no fit
    u, sigma = u[:, keep], s[keep] ** 2
    scores = []
    for k in np.unique(labels):
        y = (labels == k).astype(np.float64)
        scores.append(class_evidence(u.T @ y, sigma, n=n, dim=dim, y_norm2=float(y @ y))[0])
    return float(np.mean(scores))
