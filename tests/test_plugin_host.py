"""The plugin host calls implementations in pluggy's order and refuses wrappers.

pluggy's order: `tryfirst` implementations, then plain ones (the last registered first),
then `trylast` ones. Checked on the host's three ways of calling (start-up `collect`,
`call_each_isolated`, concurrent `fan_out`) in-process, then through `lvng serve` with
real plugin modules: start-up hooks, the startup fan-out, domain events and the
authorization veto.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from core.errors import PluginError
from core.hookspecs import hookimpl
from core.plugins import PluginHost, PluginSource
from tests.live import PROBE_PLUGIN, free_port
from tests.test_plugins import run_lvng

# Registered in this order; pluggy's order is early (tryfirst), plain, late (trylast).
# Registration order and its reverse would both put `late` or `early` in the wrong place.
REGISTERED = ("late", "plain", "early")
PLUGGY_ORDER = ["early", "plain", "late"]
MARKERS = {"late": {"trylast": True}, "plain": {}, "early": {"tryfirst": True}}


def recording_plugin(name: str, calls: list[tuple[str, str]], fail: bool = False) -> Any:
    """A plugin object whose hooks record `(hook, name)` when called (before any await)."""
    opts = MARKERS[name]

    class Recording:
        @hookimpl(**opts)
        def lvng_register_events(self, events):
            calls.append(("lvng_register_events", name))
            return name

        @hookimpl(**opts)
        def lvng_authorize_join(self, identity, room, platform):
            calls.append(("lvng_authorize_join", name))
            if fail:
                raise RuntimeError(f"{name} fails on purpose")
            return name

        @hookimpl(**opts)
        async def lvng_startup(self, platform):
            calls.append(("lvng_startup", name))
            await asyncio.sleep(0)
            if fail:
                raise RuntimeError(f"{name} fails on purpose")
            return name

        @hookimpl(**opts)
        async def lvng_client_disconnected(self, session, platform, reason="(not given)"):
            calls.append(("lvng_client_disconnected", f"{name}:{reason}"))

    return Recording()


def host_of(plugins: dict[str, Any], errors: list | None = None) -> PluginHost:
    host = PluginHost(on_error=(lambda *args: errors.append(args)) if errors is not None else None)
    for name, plugin in plugins.items():
        host.register(PluginSource(name, "module", f"tests.{name}"), plugin)
    host.check()
    return host


def order(calls: list[tuple[str, str]], hook: str) -> list[str]:
    return [name for called, name in calls if called == hook]


async def test_every_kind_of_host_call_runs_in_pluggys_order():
    calls: list[tuple[str, str]] = []
    host = host_of({name: recording_plugin(name, calls) for name in REGISTERED})

    collected = host.collect("lvng_register_events", per_plugin=lambda n: {"events": n})
    assert collected == [(name, name) for name in PLUGGY_ORDER]
    assert order(calls, "lvng_register_events") == PLUGGY_ORDER

    each = await host.call_each_isolated(
        "lvng_authorize_join", identity=None, room=None, platform=None
    )
    assert each == [(name, name) for name in PLUGGY_ORDER]
    assert order(calls, "lvng_authorize_join") == PLUGGY_ORDER

    fanned = await host.fan_out("lvng_startup", platform=None)
    assert fanned == [(name, name) for name in PLUGGY_ORDER]
    assert order(calls, "lvng_startup") == PLUGGY_ORDER


async def test_a_failing_plugin_keeps_its_place_and_stops_nobody():
    calls: list[tuple[str, str]] = []
    errors: list[tuple[str, str, BaseException]] = []
    host = host_of(
        {name: recording_plugin(name, calls, fail=name == "early") for name in REGISTERED}, errors
    )

    each = await host.call_each_isolated(
        "lvng_authorize_join", identity=None, room=None, platform=None
    )
    assert [name for name, _ in each] == PLUGGY_ORDER
    assert isinstance(each[0][1], RuntimeError) and each[1:] == [
        ("plain", "plain"),
        ("late", "late"),
    ]
    fanned = await host.fan_out("lvng_startup", platform=None)
    assert fanned == [("plain", "plain"), ("late", "late")]
    assert order(calls, "lvng_startup") == PLUGGY_ORDER
    assert [(plugin, hook) for plugin, hook, _ in errors] == [
        ("early", "lvng_authorize_join"),
        ("early", "lvng_startup"),
    ]


async def test_parameters_with_defaults_get_the_calls_value_as_in_pluggy():
    calls: list[tuple[str, str]] = []
    host = host_of({"plain": recording_plugin("plain", calls)})
    await host.fan_out(
        "lvng_client_disconnected", session=None, platform=None, reason="transport close"
    )
    assert order(calls, "lvng_client_disconnected") == ["plain:transport close"]


@pytest.mark.parametrize("kind", ["wrapper", "hookwrapper"])
def test_a_wrapper_is_refused_naming_plugin_and_hook(kind):
    class Wrapping:
        @hookimpl(**{kind: True})
        def lvng_startup(self, platform):
            yield

    with pytest.raises(PluginError) as refused:
        host_of({"plain": recording_plugin("plain", []), "wrapping": Wrapping()})
    assert str(refused.value) == (
        f"plugin wrapping implements lvng_startup as a wrapper ({kind}=True), which lvng "
        "does not run: make it a plain hookimpl (order it with tryfirst/trylast); "
        "leave it out with LVNG_DISABLED_PLUGINS=wrapping"
    )


# --- through `lvng serve` -------------------------------------------------------------

ORDER_PLUGIN = """
import logging

from core.hookspecs import hookimpl

log = logging.getLogger("lvng.order")
NAME = {name!r}


@hookimpl({marker})
def lvng_metrics(metrics):
    log.info("hook-order lvng_metrics %s", NAME)


@hookimpl({marker})
async def lvng_startup(platform):
    log.info("hook-order lvng_startup %s", NAME)


@hookimpl({marker})
async def lvng_domain_event(event, platform):
    log.info("hook-order lvng_domain_event %s", NAME)


@hookimpl({marker})
def lvng_authorize_join(identity, room, platform):
    log.info("hook-order lvng_authorize_join %s", NAME)
    if room.name == "probe:contested":
        return f"{{NAME}} vetoes"
    return None
"""

WRAPPER_PLUGIN = """
from core.hookspecs import hookimpl


@hookimpl({kind}=True)
def lvng_client_connected(session, platform):
    yield
"""


@pytest.fixture(scope="module")
def order_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("order_plugins")
    for name in REGISTERED:
        marker = ", ".join(f"{key}=True" for key in MARKERS[name])
        (site / f"lvng_order_{name}.py").write_text(ORDER_PLUGIN.format(name=name, marker=marker))
    for kind in ("wrapper", "hookwrapper"):
        (site / f"lvng_{kind}.py").write_text(WRAPPER_PLUGIN.format(kind=kind))
    return site


def logged_order(log: str, hook: str) -> list[str]:
    return re.findall(rf"hook-order {hook} (\w+)", log)


async def test_a_served_app_calls_hooks_in_pluggys_order(start_server, order_plugins):
    modules = ",".join(f"{name}=lvng_order_{name}" for name in REGISTERED)
    live = start_server(
        env={"PYTHONPATH": str(order_plugins), "LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},{modules}"}
    )
    client = await live.connect("olive")
    # The veto reported is the first plugin's: early's, although registered last.
    message = "you may not join probe:contested: early vetoes"
    assert await client.call("probe:join", {"name": "contested"}) == {
        "ok": False,
        "error": {"code": "FORBIDDEN", "message": message},
    }
    assert await client.call("probe:publish", {"note": "order"}) == {"ok": True}
    await client.next("probe:domain")

    log = live.log()
    assert logged_order(log, "lvng_metrics") == PLUGGY_ORDER  # a start-up hook
    assert logged_order(log, "lvng_startup") == PLUGGY_ORDER  # a fan-out at start
    assert logged_order(log, "lvng_domain_event") == PLUGGY_ORDER  # a fan-out per event
    # Every plugin is asked, in order, even after the first veto (probe, plain and
    # registered first, runs between `plain` and `late` and logs nothing).
    assert logged_order(log, "lvng_authorize_join")[-3:] == PLUGGY_ORDER


@pytest.mark.parametrize("kind", ["wrapper", "hookwrapper"])
def test_lvng_serve_refuses_a_wrapper_with_one_line(order_plugins, tmp_path, kind):
    env = {
        "PYTHONPATH": str(order_plugins),
        "LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},wrapping=lvng_{kind}",
    }
    served = run_lvng("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert served.returncode == 2
    assert served.stderr.splitlines() == [
        f"lvng: error: plugin wrapping implements lvng_client_connected as a wrapper "
        f"({kind}=True), which lvng does not run: make it a plain hookimpl (order it with "
        f"tryfirst/trylast); leave it out with LVNG_DISABLED_PLUGINS=wrapping"
    ]
    assert "lvng serving" not in served.stdout
