"""A/B of conv_block's order: pooling before a monotonic activation against the activation first.

    python docs/pool_order_ab.py & python docs/pool_order_ab.py; wait   # two at once, as --jobs 2 trains

Each process trains Net, NetDeep and LeNet at batch 64, channels-last, 1 torch thread, both orders
interleaved (10 rounds of 20 steps each), and prints each network's new/old time per step.
"""
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import model  # noqa: E402
from train import make_optimizer, train_step  # noqa: E402


def old_block(c_in: int, c_out: int, act: str, kernel: int = 3, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=padding), model.activation(act), nn.MaxPool2d(2)]


def main() -> None:
    torch.set_num_threads(1)
    x = torch.randn(64, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,))
    new_block, pairs = model.conv_block, {}
    for name in ("Net", "NetDeep", "LeNet"):
        for order, block in (("old", old_block), ("new", new_block)):
            model.conv_block = block
            torch.manual_seed(0)
            net = model.build_model(name).to(memory_format=torch.channels_last)
            pairs[name, order] = (net, make_optimizer("adam", net.parameters(), 1e-3))
    model.conv_block = new_block
    seconds = dict.fromkeys(pairs, 0.0)
    for _ in range(10):
        for key, (net, optimizer) in pairs.items():
            for _ in range(2):  # warm-up after the switch
                train_step(net, optimizer, x, y)
            start = time.perf_counter()
            for _ in range(20):
                train_step(net, optimizer, x, y)
            seconds[key] += time.perf_counter() - start
    for name in ("Net", "NetDeep", "LeNet"):
        old, new = seconds[name, "old"] / 200, seconds[name, "new"] / 200
        print(f"{name}: activation first {1e3 * old:.1f} ms/step, pooling first {1e3 * new:.1f} ms/step, "
              f"ratio {new / old:.2f}")


if __name__ == "__main__":
    main()
