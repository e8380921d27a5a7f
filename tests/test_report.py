"""Result pages (ser_jax/report.py)."""

import pytest

from ser_jax import report


def test_results_md_names_the_scale_of_the_reconstruction_mse():
    """The MSE of a standardised input is not on [0, 1]: results.md says which scale it is on."""
    folds = [{"fold": f"test={s}", "best_epoch": 3, "val": {"ua": 0.5},
              "test": {"wa": 0.5, "ua": 0.5, "n": 4, "recon_mse": mse, "confusion": [[1, 1], [1, 1]]}}
             for s, mse in (("03", 0.5), ("08", 0.7))]
    summary = report.aggregate(folds, ["anger", "sadness"])
    assert summary["mean"]["recon_mse"] == pytest.approx(0.6) and summary["std"]["recon_mse"] == pytest.approx(0.1)
    assert "Test reconstruction MSE (inputs standardised, training-fold mean 0 and std 1): 0.60000 ± 0.10000" in \
        report.markdown(summary, "t", input_scaling="standardize")
    assert "Test reconstruction MSE (inputs min-max scaled to [0, 1]): 0.60000" in \
        report.markdown(summary, "t", input_scaling="minmax")
