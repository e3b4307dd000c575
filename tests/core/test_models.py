import pytest
import torch

from ltlab.models import CNN1D, MLP, CosineClassifier, ResNet32


def _params(m):
    return sum(p.numel() for p in m.parameters())


def test_resnet32_matches_the_ldam_architecture():
    m = ResNet32(num_classes=100)
    # LDAM-DRW's resnet32 with a linear head has 0.47M parameters (0.46M convs + 6.5k head)
    assert 460_000 < _params(m) < 475_000
    x = torch.randn(2, 3, 32, 32)
    assert m(x).shape == (2, 100)
    assert m.features(x).shape == (2, 64)


def test_multi_expert_resnet_shares_stem_and_layer1():
    m = ResNet32(num_classes=10, num_experts=3, cosine=True)
    x = torch.randn(4, 3, 32, 32)
    out = m(x)
    assert out.shape == (3, 4, 10)
    # cosine heads with scale 30 give logits in [-30, 30]
    assert out.abs().max() <= 30 + 1e-4
    single = ResNet32(num_classes=10)
    stem = _params(single.conv1) + _params(single.bn1) + _params(single.layer1)
    per_expert = _params(single) - stem - _params(single.classifier)
    assert _params(m) == stem + 3 * per_expert + _params(m.classifier)
    # experts differ after layer1: their features are not identical
    f = m.features(x)
    assert f.shape == (3, 4, 64) and not torch.allclose(f[0], f[1])


def test_cosine_classifier_formula():
    head = CosineClassifier(5, 3, scale=30.0)
    f = torch.randn(4, 5)
    expected = 30 * torch.nn.functional.cosine_similarity(
        f[:, None, :], head.weight[None, :, :], dim=2)
    assert torch.allclose(head(f), expected, atol=1e-5)


def test_small_models_and_experts():
    mlp = MLP(64, 10, hidden=(32,), num_experts=2)
    assert mlp(torch.randn(5, 8, 8)).shape == (2, 5, 10)  # inputs are flattened
    cnn = CNN1D(num_classes=10)
    assert cnn(torch.randn(7, 40)).shape == (7, 10)
    assert cnn.features(torch.randn(7, 40)).shape == (7, cnn.feature_dim)
    with pytest.raises(ValueError, match="length 40"):
        cnn(torch.randn(2, 39))
    with pytest.raises(ValueError, match="num_experts"):
        MLP(4, 2, num_experts=0)


def test_multi_expert_cnn1d_shares_a_stem_and_has_per_expert_late_layers():
    x = torch.randn(6, 40)
    # one expert: the plain network, the same initial weights whatever shared_convs says
    torch.manual_seed(3)
    plain = CNN1D(num_classes=10, cosine=True)
    torch.manual_seed(3)
    split = CNN1D(num_classes=10, cosine=True, shared_convs=2)
    assert torch.equal(plain(x), split(x))
    # three experts: the first two convolutions are shared, every expert has its own third
    # convolution, linear layer and head (BalPoE's ResNet-32 layout)
    m = CNN1D(num_classes=10, num_experts=3, cosine=True)
    stem = _params(plain.conv[:4])
    per_expert = _params(plain) - stem - _params(plain.classifier)
    assert _params(m) == stem + 3 * per_expert + 3 * _params(plain.classifier)
    f = m.features(x)
    assert f.shape == (3, 6, 64) and not torch.allclose(f[0], f[1])
    assert m(x).shape == (3, 6, 10) and m(x).abs().max() <= 30 + 1e-4
    # shared_convs=3: the experts share the whole network, their features are identical
    shared = CNN1D(num_classes=10, num_experts=3, cosine=True, shared_convs=3)
    assert shared.features(x).shape == (6, 64)
    assert _params(shared) == _params(plain) + 2 * _params(plain.classifier)
    with pytest.raises(ValueError, match="shared_convs"):
        CNN1D(num_experts=2, shared_convs=4)
