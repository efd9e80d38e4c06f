"""Hosted mode: per-visitor storage, caps from the environment, threads set once per process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from wgan.config import PAGE_DEFAULT_PRESET, preset
from wgan.controller import RunStatus
from wgan.data import load_images
from wgan.hosting import HOSTED, LOCAL, Hosting, trainer_slots
from wgan.storage import FolderRuns, SessionRuns, StorageFull, safe_run_name
from wgan.train import init_state, train_chunk

ROOT = Path(__file__).resolve().parent.parent
TRAIN_PAGE = ROOT / "pages" / "1_Train.py"


@pytest.fixture(scope="module")
def state(mnist_root):
    data = load_images("mnist", mnist_root, "train", download=False)
    state = init_state(preset("gan", batch_size=8, holdout_size=32), data, "cpu")
    train_chunk(state, 1)
    return state


@pytest.mark.parametrize(
    "name, safe",
    [("my run", "my-run"), ("../../etc/passwd", "etc-passwd"), ("a/b\\c", "a-b-c"), (".hidden", "hidden"),
     ("run.v2", "run.v2")],
)  # fmt: skip
def test_run_names_cannot_leave_their_storage(name, safe):
    assert safe_run_name(name) == safe


@pytest.mark.parametrize("name", ["..", "...", "/", "", "  ", "-.-"])
def test_names_with_nothing_usable_are_refused(name):
    with pytest.raises(ValueError, match="letters, digits"):
        safe_run_name(name)


def test_folder_runs_stay_in_their_folder(tmp_path, state):
    runs = FolderRuns(tmp_path / "runs")
    assert runs.save("../../outside", state, {}) == "outside"
    assert (tmp_path / "runs" / "outside.pt").is_file() and not (tmp_path / "outside.pt").exists()
    assert runs.names() == ["outside"] and runs.load("outside").iteration == 1


def test_session_runs_are_bounded_and_say_which_bound(state):
    runs = SessionRuns(max_runs=2, max_bytes=1 << 40)
    runs.save("a", state, {})
    runs.save("b", state, {})
    runs.save("a", state, {})  # overwriting one's own run is allowed
    with pytest.raises(StorageFull, match="at most 2 saved runs"):
        runs.save("c", state, {})
    runs.delete("a")
    runs.save("c", state, {})
    assert runs.names() == ["b", "c"] and runs.load("c").iteration == 1
    tiny = SessionRuns(max_runs=5, max_bytes=1000)
    with pytest.raises(StorageFull, match="MB of saved runs"):
        tiny.save("big", state, {})
    assert tiny.names() == []


def test_hosted_mode_switch_and_caps_from_the_environment(tmp_path):
    assert Hosting.from_environment({}, app_root=tmp_path) == LOCAL
    assert Hosting.from_environment({"WGAN_HOSTED": "1"}, app_root=tmp_path) == HOSTED
    assert not Hosting.from_environment({"WGAN_HOSTED": "0"}, app_root=Path("/mount/src/app")).hosted
    assert Hosting.from_environment({}, app_root=Path("/mount/src/app")).hosted  # Community Cloud's checkout
    custom = Hosting.from_environment({"WGAN_HOSTED": "1", "WGAN_MAX_TRAINERS": "3", "WGAN_MAX_RUN_SECONDS": "oops"})
    assert custom.max_trainers == 3 and custom.max_run_seconds == HOSTED.max_run_seconds  # bad value: default
    assert "3 runs train at once" in custom.describe()
    assert trainer_slots(3) is trainer_slots(3)  # one semaphore per process, shared by every session


def test_threads_are_set_once_per_process(monkeypatch):
    from wgan import device

    monkeypatch.setattr(device, "_configured_threads", None)
    before = torch.get_num_threads()
    try:
        first = device.configure_cpu_threads(limit=1)
        assert first == 1 == torch.get_num_threads()
        assert device.configure_cpu_threads() == 1 and torch.get_num_threads() == 1  # a later session: no change
    finally:
        torch.set_num_threads(before)


def hosted_page(mnist_root: Path, monkeypatch) -> AppTest:
    import streamlit as st

    monkeypatch.setenv("WGAN_HOSTED", "1")
    st.cache_resource.clear()  # the page reads the environment once per process: start a fresh "process"
    at = AppTest.from_file(str(TRAIN_PAGE), default_timeout=180)
    at.session_state["train.data_root"] = str(mnist_root)
    at.session_state["train.chunk_seconds"] = 0.05
    at.run()
    at.text_input(key=f"train.adv.{PAGE_DEFAULT_PRESET}.batch_size").set_value("16").run()
    return at


def test_two_hosted_visitors_cannot_see_or_load_each_others_runs(mnist_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # and the page works from another working directory
    first, second = hosted_page(mnist_root, monkeypatch), hosted_page(mnist_root, monkeypatch)
    assert any("hosted mode" in str(c.value) for c in first.caption)
    first.button(key="train.start").click().run()
    first.button(key="train.pause").click().run()
    first.text_input(key="train.save_name").set_value("mine").run()
    first.button(key="train.save").click().run()
    assert not first.exception and first.get("download_button")
    assert "mine" in first.selectbox(key="train.load_choice").options
    assert not (ROOT / "checkpoints" / "runs" / "mine.pt").exists()  # nothing written for everyone

    second.run()
    assert "mine" not in second.selectbox(key="train.load_choice").options
    assert second.session_state["train.store"].names() == []
    with pytest.raises(Exception, match="no saved run"):
        second.session_state["train.store"].load("mine")


def test_a_hosted_run_stops_at_the_servers_cap(mnist_root, monkeypatch):
    monkeypatch.setenv("WGAN_MAX_RUN_ITERATIONS", "2")
    at = hosted_page(mnist_root, monkeypatch)
    at.button(key="train.start").click().run()
    for _ in range(10):
        at.run()
    run = at.session_state["train.controller"].run
    assert run.iteration == 2 and at.session_state["train.controller"].status is RunStatus.CAPPED
    assert any("cap of 2 generator iterations" in str(i.value) for i in at.info)


@pytest.fixture(autouse=True)
def fresh_hosting_cache():
    """Leave no hosted-mode settings cached for the tests that run after these."""
    import streamlit as st

    yield
    st.cache_resource.clear()


def test_hosted_entrypoint_runs_the_app_in_hosted_mode(monkeypatch, tmp_path):
    # Community Cloud starts hosted/streamlit_app.py from the repository root; here from elsewhere, no env set.
    monkeypatch.setenv("WGAN_HOSTED", "unset-after-the-test")
    monkeypatch.delenv("WGAN_HOSTED")
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(ROOT / "hosted" / "streamlit_app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Wasserstein GAN, step by step"  # the navigation's default page: Home
    assert any("hosted mode:" in str(m.value) for m in at.markdown)


def test_cpu_only_torch_is_confined_to_the_hosted_requirements():
    # An extra index in the root file would make pip pull the +cpu wheel into a local GPU install.
    root = (ROOT / "requirements.txt").read_text()
    hosted = (ROOT / "hosted" / "requirements.txt").read_text().splitlines()
    assert "download.pytorch.org" not in root
    assert "-r ../requirements.txt" in hosted
    pins = {line.split("==")[0]: line.split("==")[1] for line in hosted if "==" in line}
    assert pins.keys() == {"torch", "torchvision"} and all(version.endswith("+cpu") for version in pins.values())


@pytest.mark.parametrize("hosted", [True, False])
def test_a_hosted_server_caps_malloc_arenas_and_a_local_app_does_not(monkeypatch, hosted):
    calls = []
    monkeypatch.setattr("wgan.device.limit_malloc_arenas", lambda arenas=2: calls.append(arenas) or True)
    monkeypatch.setenv("WGAN_HOSTED", "1" if hosted else "0")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert calls == ([2] if hosted else [])


def test_limit_malloc_arenas_applies_once_per_process_on_glibc():
    from wgan.device import limit_malloc_arenas

    first = limit_malloc_arenas()
    assert limit_malloc_arenas() is first  # the first answer stands
    if Path("/lib/x86_64-linux-gnu/libc.so.6").exists() or Path("/lib/aarch64-linux-gnu/libc.so.6").exists():
        assert first  # glibc: mallopt(M_ARENA_MAX) accepted
