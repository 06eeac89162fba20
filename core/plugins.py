"""The plugin host: finds, loads, enables and calls plugins (contract section 9).

Built-ins are known only as a table of names → modules; third-party plugins come from the
`lvng.plugins` entry-point group, and local ones from `plugin_modules`. One name is used
everywhere: entry-point name = config key = Tortoise app label = metric prefix.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from core import hookspecs
from core.config import Settings
from core.errors import ConfigError, PluginError, one_line

log = logging.getLogger("lvng.plugins")

ENTRY_POINT_GROUP = "lvng.plugins"

# The built-in domains, by name. The core imports them only through this table.
BUILTIN_PLUGINS: dict[str, str] = {
    "messages": "plugins.messages",
    "swarm": "plugins.swarm",
    "calls": "plugins.calls",
    "presence": "plugins.presence",
    "activity": "plugins.activity",
    "webhooks": "plugins.webhooks",
}

# The client events of each built-in, so that an event of a disabled one (never imported)
# can be answered with its owner's name. Kept equal to what they register by a test
# (tests/test_first_run.py); third-party plugins' events stay plain unknown events.
BUILTIN_EVENTS: dict[str, frozenset[str]] = {
    "messages": frozenset(
        {
            "channel:join",
            "channel:leave",
            "channel:list",
            "channel:history",
            "channel:update",
            "message:send",
            "message:update",
            "message:delete",
            "message:react",
            "message:read",
            "typing:start",
            "typing:stop",
            "conversation:join",
            "conversation:leave",
            "conversation:rejoin",
        }
    ),
    "swarm": frozenset({"swarm:subscribe", "swarm:unsubscribe"}),
    "calls": frozenset({"call:join", "call:leave", "call:transcription", "call:transcript"}),
    "presence": frozenset(
        {
            "presence:update",
            "presence:heartbeat",
            "presence:list",
            "presence:subscribe",
            "presence:unsubscribe",
        }
    ),
    "activity": frozenset({"activity:subscribe", "activity:unsubscribe", "activity:read"}),
    "webhooks": frozenset(),
}


@dataclass
class PluginSource:
    """Where a plugin comes from, known before anything is imported."""

    name: str
    kind: str  # "builtin" | "entry-point" | "module"
    target: str  # module path or entry-point value
    entry_point: EntryPoint | None = None
    version: str | None = None

    def load(self) -> Any:
        try:
            if self.entry_point is not None:
                return self.entry_point.load()
            return importlib.import_module(self.target)
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's
            raise PluginError(
                f"plugin {self.name} ({self.kind} {self.target}) failed to load: "
                f"{one_line(exc)}; leave it out with LVNG_DISABLED_PLUGINS={self.name}"
            ) from exc


# Names no plugin may have: the core's own Tortoise app (core/customers/), the plugin of
# its own events (`auth:refresh`).
RESERVED_PLUGIN_NAMES = frozenset({"core"})


def discover(settings: Settings) -> dict[str, PluginSource]:
    """Every plugin that could be loaded, by name, without importing any of them."""
    found: dict[str, PluginSource] = {
        name: PluginSource(name, "builtin", module) for name, module in BUILTIN_PLUGINS.items()
    }
    if settings.entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in found or ep.name in RESERVED_PLUGIN_NAMES:
                log.warning("entry point %s=%s ignored: the name is taken", ep.name, ep.value)
                continue
            version = ep.dist.version if ep.dist else None
            found[ep.name] = PluginSource(ep.name, "entry-point", ep.value, ep, version)
    for spec in settings.plugin_modules:
        name, _, module = spec.rpartition("=")
        module = module.strip()
        name = name.strip() or module.rsplit(".", 1)[-1]
        if name in found or name in RESERVED_PLUGIN_NAMES:
            raise ConfigError(f"plugin_modules: plugin name {name!r} is already taken")
        found[name] = PluginSource(name, "module", module)
    return found


def enabled_names(settings: Settings, found: dict[str, PluginSource]) -> list[str]:
    """The names to load: LVNG_PLUGINS (default: all found) less LVNG_DISABLED_PLUGINS."""
    wanted = list(found) if settings.plugins is None else list(settings.plugins)
    unknown = [name for name in wanted if name not in found]
    if unknown:
        raise ConfigError(
            f"invalid setting plugins (LVNG_PLUGINS): unknown plugin {unknown[0]!r}; "
            f"known: {', '.join(sorted(found)) or 'none'}"
        )
    for name in settings.disabled_plugins:
        if name not in found:
            log.warning("LVNG_DISABLED_PLUGINS names %r, which is not installed", name)
    return [name for name in wanted if name not in settings.disabled_plugins]


def check_plugin_sections(settings: Settings, found: dict[str, PluginSource]) -> None:
    """A `[plugins.NAME]` table for a plugin that was not found is a typo: stop the start."""
    for name in settings.plugin_config:
        if name not in found:
            raise ConfigError(
                f"invalid setting [plugins.{name}]: no plugin named {name!r}; "
                f"known: {', '.join(sorted(found)) or 'none'}"
            )


class PluginHost:
    """A pluggy manager for one app, with per-plugin calls and isolated fan-out."""

    def __init__(self, on_error: Callable[[str, str, BaseException], None] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.sources: dict[str, PluginSource] = {}
        self.disabled: list[str] = []  # found, not loaded
        self._on_error = on_error

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> PluginHost:
        host = cls(**kwargs)
        found = discover(settings)
        check_plugin_sections(settings, found)
        enabled = enabled_names(settings, found)
        for name in found:
            if name not in enabled:
                host.pm.set_blocked(name)  # blocked before anything imports it
                host.disabled.append(name)
        for name in enabled:
            host.register(found[name], found[name].load())
        host.check()
        return host

    def register(self, source: PluginSource, plugin: Any) -> None:
        try:
            self.pm.register(plugin, name=source.name)
        except Exception as exc:
            raise PluginError(
                f"plugin {source.name} could not be registered: {one_line(exc)}"
            ) from exc
        self.sources[source.name] = source

    def check(self) -> None:
        """Fail at start-up, naming the plugin and hook, if an implementation matches no
        spec or is a wrapper (which this host does not run; see `_impls`)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
            unknown = sorted(
                caller.name
                for caller in self.pm.get_hookcallers(exc.plugin) or []
                if not caller.has_spec()
            )
            raise PluginError(
                f"plugin {name} implements unknown hook {', '.join(unknown)} (misspelt?); "
                f"leave it out with LVNG_DISABLED_PLUGINS={name}"
            ) from exc
        for name in self.sources:
            plugin = self.pm.get_plugin(name)
            for caller in sorted(self.pm.get_hookcallers(plugin) or [], key=lambda c: c.name):
                for impl in caller.get_hookimpls():
                    if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                        kind = "wrapper=True" if impl.wrapper else "hookwrapper=True"
                        raise PluginError(
                            f"plugin {name} implements {caller.name} as a wrapper ({kind}), "
                            f"which lvng does not run: make it a plain hookimpl (order it "
                            f"with tryfirst/trylast); leave it out with "
                            f"LVNG_DISABLED_PLUGINS={name}"
                        )

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def unknown_event_message(self, event: str) -> str:
        """What UNKNOWN_EVENT says: the owner too, when a disabled built-in owns `event`."""
        owner = next(
            (name for name in self.disabled if event in BUILTIN_EVENTS.get(name, ())), None
        )
        if owner is not None:
            return f"unknown event {event!r}: plugin {owner}, which owns it, is disabled"
        return f"unknown event {event[:128]!r}"

    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        """The hook's implementations in the order pluggy itself calls them.

        pluggy keeps them in reverse call order and runs `reversed(...)`: `tryfirst` ones,
        then the plain ones (the last registered first), then `trylast` ones. The host
        calls them one by one, so that it knows which plugin answered and can isolate
        failures; wrappers, which wrap pluggy's own loop, are refused by `check()`.
        """
        return list(reversed(getattr(self.pm.hook, hook_name).get_hookimpls()))

    @staticmethod
    def _call(impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
        """Call one implementation as pluggy would: its positional parameters by name,
        plus those of its parameters with defaults that the call provides."""
        args = {arg: kwargs[arg] for arg in impl.argnames}
        args.update((arg, kwargs[arg]) for arg in getattr(impl, "kwargnames", ()) if arg in kwargs)
        return impl.function(**args)

    def collect(
        self,
        hook_name: str,
        per_plugin: Callable[[str], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> list[tuple[str, Any]]:
        """Call a registration hook plugin by plugin; a failure stops the start-up.

        `per_plugin(name)` supplies arguments bound to one plugin (its registrar, its
        metrics factory). Registration hooks are synchronous: they run while the app is
        built, before Sanic finalizes its routes.
        """
        results = []
        for impl in self._impls(hook_name):
            args = {**kwargs, **(per_plugin(impl.plugin_name) if per_plugin else {})}
            try:
                result = self._call(impl, args)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name} failed in {hook_name}: {one_line(exc)}"
                ) from exc
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise PluginError(f"plugin {impl.plugin_name}: {hook_name} must not be async")
            results.append((impl.plugin_name, result))
        return results

    async def call_each_isolated(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every plugin in turn; a failure is logged, counted and returned as the result."""
        results: list[tuple[str, Any]] = []
        for impl in self._impls(hook_name):
            try:
                result = await self._settle(self._call(impl, kwargs))
            except Exception as exc:  # noqa: BLE001 - isolate the plugin
                self._failed(impl.plugin_name, hook_name, exc)
                result = exc
            results.append((impl.plugin_name, result))
        return results

    async def fan_out(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every plugin concurrently; a failing one is logged, counted and skipped."""
        names: list[str] = []
        pending: list[Any] = []
        for impl in self._impls(hook_name):
            try:
                result = self._call(impl, kwargs)
            except Exception as exc:  # noqa: BLE001 - isolate the plugin
                self._failed(impl.plugin_name, hook_name, exc)
                continue
            names.append(impl.plugin_name)
            pending.append(result)
        awaited = await asyncio.gather(*(self._settle(r) for r in pending), return_exceptions=True)
        results = []
        for name, result in zip(names, awaited, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                self._failed(name, hook_name, result)
            else:
                results.append((name, result))
        return results

    @staticmethod
    async def _settle(result: Any) -> Any:
        return await result if inspect.isawaitable(result) else result

    def _failed(self, plugin: str, hook_name: str, exc: BaseException) -> None:
        from core.database import store_unavailable  # tortoise: imported late

        if store_unavailable(exc):  # an outage, not a bug: one line (the soak's faults)
            log.warning(
                "plugin %s failed in %s, a backing store is unavailable: %s: %s",
                plugin,
                hook_name,
                type(exc).__name__,
                exc,
            )
        else:
            log.error(
                "plugin %s failed in %s: %s: %s",
                plugin,
                hook_name,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
        if self._on_error is not None:
            self._on_error(plugin, hook_name, exc)

    def implements(self, hook_name: str) -> bool:
        """Whether any enabled plugin implements the hook."""
        return bool(self._impls(hook_name))

    def hooks_of(self, name: str) -> list[str]:
        plugin = self.pm.get_plugin(name)
        return sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
