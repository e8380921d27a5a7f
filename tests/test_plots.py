"""Figures: PNGs with the expected points."""

import numpy as np
import pytest
from matplotlib import image

from ser_jax import plots


def _png_ok(path):
    assert path.is_file() and path.stat().st_size > 1000
    pixels = image.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100


@pytest.mark.parametrize("method", plots.METHODS)
def test_embedding_figure_draws_every_point(tmp_path, method):
    rng = np.random.default_rng(1)
    panels = [("train", rng.normal(size=(60, 8)), np.arange(60) % 3),
              ("test", rng.normal(size=(25, 8)), np.arange(25) % 3)]
    path = tmp_path / f"{method}.png"
    assert plots.embedding_figure(panels, ["a", "b", "c"], path, method=method) == [60, 25]
    _png_ok(path)


def test_confusion_curves_and_sweep_figures(tmp_path):
    plots.confusion_figure(np.asarray([[5, 1], [2, 0]]), ["x", "y"], tmp_path / "c.png", title="t")
    _png_ok(tmp_path / "c.png")
    logs = [[{"epoch": e, "loss/ce": 1.0 / e, "val/ua": 0.1 * e} for e in (1, 2, 3)] for _ in range(2)]
    assert plots.curves_figure(logs, tmp_path / "curves.png") == ["loss/ce", "val/ua"]
    _png_ok(tmp_path / "curves.png")
    assert plots.sweep_curve_figure([0.001, 0.1, 1.0], [40.0, 45.0, 42.0], [2.0, 1.0, 3.0], tmp_path / "s.png",
                                    xlabel="λ") == "log"
    _png_ok(tmp_path / "s.png")
    # λ = 0 (the softmax baseline) on the axis: symmetric log; a narrow range: linear
    assert plots.sweep_curve_figure([0.3, 0.0, 0.01, 1.0], [40.0, 41.0, 45.0, 42.0], [2.0, 1.0, 3.0, 1.0],
                                    tmp_path / "s0.png", xlabel="λ",
                                    separation=([0.5, 0.6, 0.4, 0.3], [0.1, 0.1, 0.1, 0.1])) == "symlog"
    _png_ok(tmp_path / "s0.png")
    assert plots.sweep_curve_figure([0.1, 0.5, 0.9], [40.0, 41.0, 45.0], [2.0, 1.0, 3.0], tmp_path / "a.png",
                                    xlabel="α") == "linear"
    _png_ok(tmp_path / "a.png")
