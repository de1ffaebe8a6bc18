import pytest
import torch

from model import ACTIVATIONS, MODELS, MONOTONIC, activation, build_model, conv_block, count_parameters, named_layers

SEED_NETWORKS = {"Net": 225_034, "NetSigmoid": 225_034, "NetDeep": 159_882, "MLP": 669_706, "LeNet": 61_706}


@pytest.mark.parametrize("name,n_params", SEED_NETWORKS.items())
def test_seed_networks_have_the_contracted_parameter_counts(name, n_params):
    model = build_model(name, (1, 28, 28), 10)
    assert count_parameters(model) == n_params
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_netsigmoid_has_sigmoid_wherever_net_has_relu():
    kinds = [type(m).__name__ for m in build_model("NetSigmoid", (1, 28, 28), 10)]
    assert "ReLU" not in kinds and kinds.count("Sigmoid") == 3


def test_lenet_is_a_real_lenet5():
    convs = [m for m in build_model("LeNet", (1, 28, 28), 10).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 6, (5, 5)), (6, 16, (5, 5))]


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_conv_block_computes_convolution_activation_then_pooling(act):
    """Pooling first (MONOTONIC activations) is an exact reordering: the same outputs and gradients."""
    torch.manual_seed(0)
    block = torch.nn.Sequential(*conv_block(3, 8, act))
    conv = block[0]
    reference = torch.nn.Sequential(conv, activation(act), torch.nn.MaxPool2d(2))
    x = torch.randn(4, 3, 12, 12)
    out, expected = block(x), reference(x)
    assert torch.equal(out, expected)
    grads = [torch.autograd.grad(y.square().sum(), conv.weight)[0] for y in (out, expected)]
    assert torch.allclose(grads[0], grads[1], rtol=1e-5, atol=1e-6)
    assert (type(block[1]) is torch.nn.MaxPool2d) == (act in MONOTONIC)


def test_gelu_and_silu_do_not_commute_with_pooling():
    """Why MONOTONIC leaves them out: pooling first would change the network."""
    x = torch.tensor([[[[-0.5, -3.0], [-3.0, -3.0]]]])
    for act in ("gelu", "silu"):
        f = activation(act)
        assert not torch.equal(torch.nn.MaxPool2d(2)(f(x)), f(torch.nn.MaxPool2d(2)(x)))


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_convnet_family_takes_every_activation(act):
    model = build_model("ConvNet", (1, 28, 28), 10, act=act)
    assert any(isinstance(m, type(activation(act))) for m in model)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_family_depths(depth):
    conv = build_model("ConvNet", (1, 28, 28), 10, depth=depth, width=8)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in conv) == depth
    assert conv(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    mlp = build_model("MLPNet", (1, 28, 28), 10, depth=depth, width=32)
    assert sum(isinstance(m, torch.nn.Linear) for m in mlp) == depth + 1
    # 784*32+32, then (depth-1) x (32*32+32), then 32*10+10
    assert count_parameters(mlp) == 25_120 + (depth - 1) * 1_056 + 330


def test_widths_change_the_parameter_count_as_computed():
    assert count_parameters(build_model("MLPNet", (1, 28, 28), 10, depth=1, width=2048)) == 784 * 2048 + 2048 + 2048 * 10 + 10
    # ConvNet width 8: conv 1->8 (80), 8->16 (1,168), 16*7*7 -> 128 (100,480), 128 -> 10 (1,290)
    assert count_parameters(build_model("ConvNet", (1, 28, 28), 10, width=8)) == 80 + 1_168 + 100_480 + 1_290


def test_unknown_names_list_what_is_valid():
    with pytest.raises(ValueError, match="valid: Net, NetSigmoid"):
        build_model("ResNet", (1, 28, 28), 10)
    with pytest.raises(ValueError, match="valid: relu, sigmoid"):
        build_model("ConvNet", (1, 28, 28), 10, act="swish")
    with pytest.raises(ValueError, match="depth must be 1 to 4"):
        build_model("ConvNet", (1, 28, 28), 10, depth=5)


def test_named_layers_are_input_side_first():
    assert [n for n, _ in named_layers(build_model("NetDeep", (1, 28, 28), 10))] == ["conv1", "conv2", "conv3", "fc1", "fc2", "fc3"]
    assert set(MODELS) >= set(SEED_NETWORKS)
