from training.options import MAX_EPOCHS, MIN_EPOCHS
from training.train import _default_epochs


def test_given_growing_datasets_when_default_epochs_chosen_then_fewer_epochs_within_bounds():
    # ELPV's training part (1,527 images) -> 5 epochs; ~7,000 photos (4,900 train) -> the minimum
    epochs = [_default_epochs(n) for n in (10, 300, 1527, 4900, 50_000)]
    assert epochs == sorted(epochs, reverse=True)
    assert epochs[0] == MAX_EPOCHS and epochs[-1] == MIN_EPOCHS
    assert _default_epochs(1527) == 5
    assert _default_epochs(4900) == MIN_EPOCHS == 3
