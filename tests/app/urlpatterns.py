"""Enumerate every URL pattern Django serves, with its namespaced name and route."""

from django.urls import URLPattern, URLResolver, get_resolver


def all_patterns(patterns=None, namespace="", prefix=""):
    """Yield (key, route, pattern) for every URL pattern; key is 'ns:name' or the route."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            child_ns = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from all_patterns(entry.url_patterns, child_ns, route)
        elif isinstance(entry, URLPattern):
            name = entry.name
            key = (f"{namespace}:{name}" if namespace else name) if name else route
            yield key, route, entry
