"""What a new user hits first (issue 8): typos in the config, dev mode across restarts,
what the commands and logs say, /metrics."""

from __future__ import annotations

import pytest

from tests.live import PROBE_PLUGIN, SECRET
from tests.test_cli import run_lvng


@pytest.mark.parametrize("section", ["mesages", "helo"])
def test_a_section_for_a_plugin_that_does_not_exist_stops_the_start(tmp_path, section):
    config = tmp_path / "lvng.toml"
    config.write_text(f"[plugins.{section}]\nauto_create_channels = false\n")
    result = run_lvng("serve", "--config", str(config), cwd=tmp_path,
                      env={"LVNG_JWT_SECRET": SECRET, "LVNG_ENTRY_POINTS": "false",
                           "LVNG_PLUGIN_MODULES": PROBE_PLUGIN})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"lvng: error: invalid setting [plugins.{section}]: no plugin named {section!r}; "
        "known: messages, probe"]


def test_a_section_for_a_found_but_disabled_plugin_is_fine(tmp_path):
    config = tmp_path / "lvng.toml"
    config.write_text('[plugins]\ndisabled = ["probe"]\n[plugins.probe]\nanything = 1\n')
    result = run_lvng("migrate", "--config", str(config), cwd=tmp_path,
                      env={"LVNG_JWT_SECRET": SECRET, "LVNG_ENTRY_POINTS": "false",
                           "LVNG_PLUGIN_MODULES": PROBE_PLUGIN})
    assert result.returncode == 0, result.stderr
