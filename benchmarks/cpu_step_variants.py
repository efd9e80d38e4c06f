"""Time one seed-preset step on the CPU in three layouts: plain fp32, channels_last fp32, bf16 autocast.

    python -m benchmarks.cpu_step_variants [--steps 6]
Prints images/s for each variant (median over steps after one warm-up step).
"""

import argparse
import statistics
import time

import torch

from wgan import objectives
from wgan.device import configure_cpu_threads
from wgan.kernels import use_cpu_fast_paths
from wgan.models import SeedCritic, SeedGenerator


def time_variant(channels_last: bool, bf16: bool, steps: int, batch: int = 512) -> float:
    torch.manual_seed(0)
    generator, critic = use_cpu_fast_paths(SeedGenerator()), use_cpu_fast_paths(SeedCritic())  # as training on a CPU
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    generator, critic = generator.to(memory_format=fmt), critic.to(memory_format=fmt)
    g_opt = torch.optim.RMSprop(generator.parameters(), lr=2e-4)
    c_opt = torch.optim.RMSprop(critic.parameters(), lr=2e-4)
    real = (torch.rand(batch, 1, 28, 28) * 2 - 1).contiguous(memory_format=fmt)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            fake = generator(torch.randn(batch, 100))
            c_opt.zero_grad()
            loss = objectives.wgan_critic_loss(critic(real), critic(fake.detach()))
        loss.backward()
        c_opt.step()
        objectives.clip_weights_(critic.parameters(), 0.01)
        g_opt.zero_grad()
        critic.requires_grad_(False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            g_loss = objectives.wgan_generator_loss(critic(fake))
        g_loss.backward()
        critic.requires_grad_(True)
        g_opt.step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    print(f"threads={configure_cpu_threads()}")
    for channels_last, bf16 in ((False, False), (True, False), (False, True), (True, True)):
        rate = time_variant(channels_last, bf16, args.steps)
        print(f"channels_last={channels_last} bf16={bf16}: {rate:.0f} images/s")


if __name__ == "__main__":
    main()
