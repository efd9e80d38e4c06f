"""wgan.latent: lerp/slerp endpoints and norms, deterministic edits, orthonormal principal directions."""

from __future__ import annotations

import math
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wgan.latent import (
    GRID_SIZE,
    apply_edits,
    frozen_generator,
    hash_seed,
    interpolate,
    lerp,
    path_norms,
    principal_directions,
    randomised_value,
    sample_z,
    slerp,
)
from wgan.models import RepairedGenerator, SeedGenerator
from wgan.sampling import generate, gif_bytes, grid, highlight_tile, noise_from_seed, to_uint8

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generator() -> SeedGenerator:
    torch.manual_seed(0)
    model = SeedGenerator(100)
    # Non-trivial batch-norm statistics, as after training, so eval mode is not the identity.
    model.train()
    with torch.no_grad():
        model(torch.randn(256, 100))
    return model.eval()


def test_sample_z_is_the_grid_tile():
    block = noise_from_seed(7, GRID_SIZE, 100)
    assert torch.equal(sample_z(7, 13, 100), block[13])
    with pytest.raises(ValueError):
        sample_z(7, GRID_SIZE, 100)


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolation_endpoints_are_exact(method):
    z0, z1 = sample_z(0, 0, 100), sample_z(1, 0, 100)
    path = interpolate(z0, z1, 9, method)
    assert path.shape == (9, 100) and path.dtype == torch.float32
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    with pytest.raises(ValueError):
        interpolate(z0, z1, 1, method)
    with pytest.raises(ValueError):
        interpolate(z0, z1, 4, "cubic")  # type: ignore[arg-type]


def test_lerp_sags_to_about_0_7_and_slerp_keeps_the_norm():
    # Averaged over many pairs: 100-d Gaussians have |z| ~ 10 and are nearly orthogonal.
    lerp_ratio, slerp_ratio = [], []
    for seed in range(20):
        z0, z1 = sample_z(seed, 0, 100), sample_z(seed, 1, 100)
        ends = (z0.norm() + z1.norm()).item() / 2
        lerp_ratio.append(path_norms(interpolate(z0, z1, 3, "lerp"))[1] / ends)
        slerp_norms = path_norms(interpolate(z0, z1, 17, "slerp"))
        slerp_ratio.append(min(slerp_norms) / min(slerp_norms[0], slerp_norms[-1]))
    assert abs(sum(lerp_ratio) / 20 - math.sqrt(0.5)) < 0.05
    assert min(slerp_ratio) > 0.999


def test_slerp_formula_and_norm_interpolation():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    middle = slerp(z0, z1, 0.5)
    assert torch.allclose(middle, torch.tensor([1.5, 1.5]) / math.sqrt(2) * 1.0, atol=1e-6)  # 45 deg, |z|=1.5
    quarter = slerp(z0, z1, torch.tensor([0.0, 0.25, 1.0]))
    assert torch.allclose(quarter.norm(dim=1), torch.tensor([1.0, 1.25, 2.0]))
    assert torch.allclose(lerp(z0, z1, torch.tensor([0.5])), torch.tensor([[0.5, 1.0]]))


def test_slerp_handles_parallel_antiparallel_and_zero():
    z = sample_z(3, 3, 100)
    parallel = slerp(z, 2 * z, torch.linspace(0, 1, 5))
    assert torch.isfinite(parallel).all()
    assert torch.allclose(parallel / parallel.norm(dim=1, keepdim=True), (z / z.norm()).expand(5, -1), atol=1e-6)
    opposite = slerp(z, -z, torch.linspace(0, 1, 5))
    assert torch.isfinite(opposite).all()
    assert torch.allclose(opposite.norm(dim=1), z.norm().expand(5), atol=1e-4)  # stays on the sphere
    assert torch.allclose(opposite[-1], -z, atol=1e-5)
    assert torch.isfinite(slerp(torch.zeros(100), z, 0.5)).all()


def test_principal_directions_are_orthonormal_and_fastest(generator):
    z = sample_z(0, 5, 100)
    directions, speeds = principal_directions(generator, z, k=5)
    assert directions.shape == (5, 100) and speeds.shape == (5,)
    assert torch.allclose(directions @ directions.T, torch.eye(5), atol=1e-5)
    assert (speeds[:-1] >= speeds[1:]).all() and speeds[0] > 0
    # The first direction moves the image more than a random unit direction (finite differences).
    step = 1e-2
    base = generate(generator, z[None])
    along = (generate(generator, (z + step * directions[0])[None]) - base).norm()
    random_unit = torch.randn(100, generator=torch.Generator().manual_seed(1))
    random_unit /= random_unit.norm()
    across = (generate(generator, (z + step * random_unit)[None]) - base).norm()
    assert along > across
    again, _ = principal_directions(generator, z, k=5)
    assert torch.equal(directions, again)
    with pytest.raises(ValueError):
        principal_directions(generator.train(), z)
    generator.eval()


@pytest.mark.parametrize("architecture", [SeedGenerator, RepairedGenerator])
def test_principal_directions_are_the_singular_vectors_of_the_exact_jacobian(architecture):
    torch.manual_seed(0)
    model = architecture(100)
    with torch.no_grad():
        model(torch.randn(128, 100))  # running statistics that are not the identity
    model = frozen_generator(model)
    z = sample_z(3, 2, 100)
    jacobian = torch.func.jacfwd(lambda v: model(v[None]).flatten())(z)  # [784, 100], forward-mode reference
    _, singular, vh = torch.linalg.svd(jacobian.double(), full_matrices=False)
    directions, speeds = principal_directions(model, z, k=4)
    torch.testing.assert_close(speeds.double(), singular[:4], rtol=1e-4, atol=1e-6)
    alignment = (directions.double() @ vh[:4].T).diag().abs()  # same vectors up to sign
    assert alignment.min() > 1 - 1e-4


def test_principal_directions_do_not_import_dynamo():
    """torch.func's forward mode imports torch._dynamo, resident in a server for good; this path does not."""
    code = (
        "import sys, torch\n"
        "from wgan.latent import frozen_generator, principal_directions, sample_z\n"
        "from wgan.models import RepairedGenerator, SeedGenerator\n"
        "for architecture in (SeedGenerator, RepairedGenerator):\n"
        "    principal_directions(frozen_generator(architecture(100)), sample_z(0, 0, 100), 3)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_same_seed_and_edits_give_identical_images(generator):
    fast = SeedGenerator(100)
    fast.load_state_dict(generator.state_dict())
    fast = frozen_generator(fast)
    assert not fast.training and not any(parameter.requires_grad for parameter in fast.parameters())

    def picture(seed: int) -> torch.Tensor:
        z = sample_z(seed, 9, 100)
        directions, _ = principal_directions(fast, z, k=3)
        value = randomised_value(seed, 9, dimension=4, draw=1)
        edited = apply_edits(z, directions, [1.5, 0.0, -0.5], {4: value, 70: 2.0})
        return generate(fast, torch.stack([z, edited]))

    first, second = picture(11), picture(11)
    assert torch.equal(first, second)
    assert not torch.equal(first[0], first[1])
    assert not torch.equal(picture(12), first)
    # The page's frozen generator draws exactly what the plain eval-mode one (the CLI's) draws.
    z = noise_from_seed(5, GRID_SIZE, 100)
    assert torch.equal(generate(fast, z), generate(generator, z))


def test_apply_edits():
    z = torch.zeros(4)
    directions = torch.eye(4)[:2]
    edited = apply_edits(z, directions, [1.0, -2.0], {3: 0.5, 0: 9.0})
    assert edited.tolist() == [9.0, -2.0, 0.0, 0.5]
    assert z.tolist() == [0.0, 0.0, 0.0, 0.0]  # a copy
    assert torch.equal(apply_edits(z), z)
    with pytest.raises(ValueError):
        apply_edits(z, overrides={4: 1.0})
    with pytest.raises(ValueError):
        apply_edits(z, directions, [1.0, 1.0, 1.0])


def test_randomised_value_is_seeded_and_short():
    values = [randomised_value(0, 0, 5, draw) for draw in range(20)]
    assert values == [randomised_value(0, 0, 5, draw) for draw in range(20)]
    assert len(set(values)) > 15 and all(round(v, 2) == v for v in values)
    assert len({randomised_value(0, 0, dim, 0) for dim in range(10)}) > 7  # each dimension its own stream
    assert hash_seed(1, 2) == hash_seed(1, 2) != hash_seed(2, 1)
    assert 0 <= hash_seed(2**70, -5) < 2**63


def test_gif_and_highlight(generator):
    frames = generate(generator, interpolate(sample_z(0, 0, 100), sample_z(0, 1, 100), 4))
    gif = Image.open(BytesIO(gif_bytes(frames, 80, scale=2)))
    assert gif.format == "GIF" and gif.n_frames == 6 and gif.size == (56, 56)  # 4 frames forward, 2 back
    first = to_uint8(frames)[0].repeat(2, axis=0).repeat(2, axis=1)
    assert np.array_equal(np.array(gif.convert("L")), first)  # the GIF holds the exact pixels
    picture = grid(frames, columns=2)
    marked = highlight_tile(picture, 3, columns=2)
    assert marked[30, 30] == 255 and picture[30, 30] == 0 and (marked[32:60, 32:60] == picture[32:60, 32:60]).all()
