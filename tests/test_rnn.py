"""The gradient-clipping claim's pieces: the temporal-order sequences and the vanilla RNN."""
import pytest
import torch

from trickbench.data.sources import temporal_order
from trickbench.models import MODELS


def test_temporal_order_puts_two_markers_in_their_windows_and_labels_their_order(tmp_path):
    t = temporal_order(tmp_path, tmp_path, length=50, n_train=300, n_test=100, seed=3)
    assert t.train_x.shape == (300, 1, 50, 6) and t.test_x.shape == (100, 1, 50, 6) and t.num_classes == 4
    sym = t.train_x[:, 0].argmax(-1)                          # [N, T] symbol ids
    assert torch.all(t.train_x.sum(-1) == 255)                # one symbol per step
    for s, y in zip(sym, t.train_y):
        where = torch.nonzero(s >= 4).flatten().tolist()
        assert len(where) == 2
        t1, t2 = where
        assert 5 <= t1 < 10 and 25 <= t2 < 30                 # [T/10, 2T/10) and [5T/10, 6T/10)
        assert y == 2 * (s[t1] - 4) + (s[t2] - 4)             # XX 0, XY 1, YX 2, YY 3
    assert set(t.train_y.tolist()) == {0, 1, 2, 3}
    again = temporal_order(tmp_path, tmp_path, length=50, n_train=300, n_test=100, seed=3)
    assert torch.equal(again.train_x, t.train_x) and torch.equal(again.test_y, t.test_y)
    with pytest.raises(ValueError, match="length"):
        temporal_order(tmp_path, tmp_path, length=5)


@pytest.mark.parametrize("radius", [0.9, 1.5])
def test_rnn_starts_at_the_declared_spectral_radius_with_zero_biases(radius):
    torch.manual_seed(0)
    m = MODELS.build("rnn", (1, 20, 6), 4, hidden=32, radius=radius)
    assert torch.linalg.eigvals(m.rnn.weight_hh_l0).abs().max().item() == pytest.approx(radius, rel=1e-5)
    assert m.rnn.bias_ih_l0.abs().sum() == 0 and m.rnn.bias_hh_l0.abs().sum() == 0
    assert m(torch.randn(5, 1, 20, 6)).shape == (5, 4)


def test_rnn_reads_rows_as_time_steps_in_order():
    """The class is read after the last row: the same rows in another order give another output,
    and an image (1, 28, 28) is 28 steps of 28 features, exactly what nn.RNN computes on it."""
    torch.manual_seed(0)
    m = MODELS.build("rnn", (1, 28, 28), 10, hidden=16)
    x = torch.randn(3, 1, 28, 28)
    _, h = m.rnn(x[:, 0])
    assert torch.allclose(m(x), m.head(h[-1]))
    assert not torch.allclose(m(x), m(x.flip(2)))
