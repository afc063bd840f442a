"""Generate docs/api.md, the API reference, from the installed scratchcnn (stdlib only, no sphinx).

    python docs/gen_api.py            # rewrites docs/api.md
    python docs/gen_api.py --check    # exit 1 if docs/api.md differs from what would be written

For every public package: its docstring's first paragraph, then each name of its ``__all__`` in that order with
its signature (``inspect.signature``, defaults included; a class shows its constructor's) and the first paragraph
of its docstring. A package without ``__all__`` (``scratchcnn.functional``, which star-imports its families)
lists every public non-module name, alphabetically. Then every ``scratchcnn`` CLI verb (walked from the click
group in ``scratchcnn.cli``) with its one-line help, usage and options (name, type, default, help).

The output is deterministic: no memory addresses, no absolute paths, no dates. ``tests/test_api_doc.py``
regenerates it in memory and fails when docs/api.md is stale.
"""
from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from pathlib import Path

PACKAGES = [
    "scratchcnn",
    "scratchcnn.nn",
    "scratchcnn.functional",
    "scratchcnn.optim",
    "scratchcnn.optim.lr_scheduler",
    "scratchcnn.data",
    "scratchcnn.models",
    "scratchcnn.train",
    "scratchcnn.finetune",
    "scratchcnn.text",
    "scratchcnn.viz",
    "scratchcnn.io",
    "scratchcnn.bench",
]

OUT = Path(__file__).resolve().parent / "api.md"

# plain data bound to a public name carries no docstring of its own; the page shows its value (or type) instead
DATA_TYPES = (str, bytes, int, float, complex, bool, type(None), tuple, list, dict, set, frozenset)

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


# --------------------------------------------------------------------------------------------- public names

def public_names(module) -> list[str]:
    """``module.__all__`` in its order; without one, every public non-module attribute, alphabetically."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return sorted(n for n in vars(module) if not n.startswith("_") and not inspect.ismodule(getattr(module, n))
                  and not _is_future_feature(getattr(module, n)))


def _is_future_feature(obj) -> bool:
    return type(obj).__name__ == "_Feature" and type(obj).__module__ == "__future__"


def is_data(obj) -> bool:
    """A plain value (constant, table) rather than a module, class or function: it cannot carry a docstring."""
    return isinstance(obj, DATA_TYPES) and not inspect.isclass(obj)


def own_doc(obj) -> str:
    """The object's own docstring (a class's is not inherited from its bases); '' for plain data."""
    if is_data(obj):
        return ""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
    else:
        doc = getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def first_paragraph(doc: str) -> str:
    """The first blank-line-separated paragraph, as one line."""
    doc = doc.strip()
    if not doc:
        return ""
    return " ".join(re.split(r"\n\s*\n", doc, maxsplit=1)[0].split())


# ------------------------------------------------------------------------------------------------ rendering

def _sanitize(text: str) -> str:
    """Drop memory addresses and machine-specific paths from a repr."""
    text = _ADDRESS.sub("", text)
    for root, alias in ((str(Path(__file__).resolve().parent.parent), "<repo>"), (sys.prefix, "<prefix>"),
                        (os.path.expanduser("~"), "~")):
        if root and root not in ("/", "~"):
            text = text.replace(root, alias)
    return text


def _format_value(value) -> str:
    if inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value):
        mod = getattr(value, "__module__", None) or ""
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", "?")
        return f"{mod}.{name}" if mod and mod != "builtins" else name
    return _sanitize(repr(value))


def _format_annotation(ann) -> str:
    if isinstance(ann, str):
        return ann
    return _sanitize(inspect.formatannotation(ann))


def format_signature(sig: inspect.Signature) -> str:
    """Like ``str(sig)`` but with string annotations unquoted and defaults sanitized."""
    parts: list[str] = []
    saw_pos_only = False
    kw_only_marked = False
    P = inspect.Parameter
    for p in sig.parameters.values():
        if p.kind is P.POSITIONAL_ONLY:
            saw_pos_only = True
        elif saw_pos_only:
            parts.append("/")
            saw_pos_only = False
        if p.kind is P.KEYWORD_ONLY and not kw_only_marked:
            parts.append("*")
            kw_only_marked = True
        if p.kind is P.VAR_POSITIONAL:
            kw_only_marked = True
        text = {P.VAR_POSITIONAL: "*", P.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        has_ann = p.annotation is not P.empty
        if has_ann:
            text += f": {_format_annotation(p.annotation)}"
        if p.default is not P.empty:
            text += (" = " if has_ann else "=") + _format_value(p.default)
        parts.append(text)
    if saw_pos_only:
        parts.append("/")
    out = "(" + ", ".join(parts) + ")"
    if sig.return_annotation is not inspect.Signature.empty:
        out += f" -> {_format_annotation(sig.return_annotation)}"
    return out


def _signature(obj) -> str:
    try:
        return format_signature(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def md_inline(text: str, table: bool = False) -> str:
    """Escape Markdown outside code spans (``<`` would start an HTML tag, ``*`` emphasis; ``|`` in tables)."""
    out = []
    pos = 0
    for m in _CODE_SPAN.finditer(text):
        out.append(_escape(text[pos:m.start()], table))
        span = m.group(0)
        out.append(span.replace("|", r"\|") if table else span)
        pos = m.end()
    out.append(_escape(text[pos:], table))
    return "".join(out)


def _escape(text: str, table: bool) -> str:
    text = text.replace("\\", "\\\\").replace("*", r"\*").replace("<", "&lt;")
    return text.replace("|", r"\|") if table else text


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped, spaces -> '-'."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def heading(level: int, text: str, key: str) -> str:
    """A heading that links can reach as ``link(key)`` (resolved by ``_resolve_links``)."""
    return f"{'#' * level} {text}\x00{key}\x00"


def link(key: str) -> str:
    return f"#\x01{key}\x01"


def _resolve_links(text: str) -> str:
    """Give every keyed heading GitHub's anchor (repeated slugs get -1, -2, ... in page order), fill the links."""
    seen: dict[str, int] = {}
    anchors: dict[str, str] = {}
    lines = []
    for line in text.split("\n"):
        if line.startswith("#"):
            m = re.fullmatch(r"(#+ )(.*?)(?:\x00(.*)\x00)?", line)
            title = m.group(2)
            base = slug(title)
            n = seen.get(base, 0)
            seen[base] = n + 1
            if m.group(3) is not None:
                anchors[m.group(3)] = base if n == 0 else f"{base}-{n}"
            line = m.group(1) + title
        lines.append(line)
    return re.sub("\x01(.*?)\x01", lambda m: anchors[m.group(1)], "\n".join(lines))


def render_name(module_name: str, name: str, obj) -> list[str]:
    lines = [heading(3, f"`{name}`", f"{module_name}.{name}"), ""]
    if inspect.ismodule(obj):
        lines += ["```python", f"{name}  # module {obj.__name__}", "```"]
    elif inspect.isclass(obj):
        sig = _signature(obj)
        if sig == "(...)":  # the constructor is a builtin's (an exception, say): name the bases instead
            sig += "  # subclass of " + ", ".join(_format_value(b) for b in obj.__bases__)
        lines += ["```python", f"class {name}{sig}", "```"]
    elif is_data(obj):
        value = _format_value(obj)
        if isinstance(obj, (dict, list, tuple, set, frozenset)) and len(value) > 100:
            lines += ["```python", f"{name}: {type(obj).__name__}  # {len(obj)} entries", "```"]
        else:
            lines += ["```python", f"{name} = {value}", "```"]
    elif callable(obj):
        lines += ["```python", f"{name}{_signature(obj)}", "```"]
    else:
        lines += ["```python", f"{name}: {type(obj).__name__}", "```"]
    para = first_paragraph(own_doc(obj))
    if para:
        lines += ["", md_inline(para)]
    return lines + [""]


def render_package(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    lines = [heading(2, module_name, module_name), ""]
    lines += [md_inline(first_paragraph(own_doc(module))), ""]
    names = public_names(module)
    if getattr(module, "__all__", None) is None:
        lines += ["(No `__all__`: every public name, alphabetically.)", ""]
    lines += ["Names: " + ", ".join(f"[`{n}`]({link(f'{module_name}.{n}')})" for n in names), ""]
    for name in names:
        lines += render_name(module_name, name, getattr(module, name))
    return lines


# ------------------------------------------------------------------------------------------------------ CLI

def _is_unset(value) -> bool:
    return value is None or repr(value) == "Sentinel.UNSET"


def _option_default(param) -> str:
    default = param.default
    if callable(default) and not inspect.isclass(default):
        return "(computed)"
    if getattr(param, "is_flag", False) and getattr(param, "is_bool_flag", False):
        if param.secondary_opts:
            if _is_unset(default):
                return ""
            return "`" + (param.opts[0] if default else param.secondary_opts[0]) + "`"
        return "off" if _is_unset(default) or not default else "on"
    if _is_unset(default):
        return ""
    if isinstance(default, (list, tuple)):
        return ", ".join(f"`{_sanitize(str(d))}`" for d in default) if default else ""
    return f"`{_sanitize(str(default))}`"


def _option_type(param) -> str:
    ptype = param.type
    if getattr(param, "is_flag", False) and getattr(param, "is_bool_flag", False):
        return "flag"
    choices = getattr(ptype, "choices", None)
    if choices is not None:
        return " \\| ".join(f"`{c}`" for c in choices)
    describe = getattr(ptype, "_describe_range", None)
    text = ptype.name
    if callable(describe):
        text = f"{ptype.name.replace(' range', '')}, {describe()}"
    if getattr(param, "multiple", False):
        text += ", repeatable"
    return md_inline(text, table=True)


def _short_help(cmd) -> str:
    return " ".join(cmd.get_short_help_str(limit=10 ** 6).split())


def _walk(cmd, path: list[str], parent_ctx):
    """(path, command, context) for a command and every subcommand, subcommands sorted by name."""
    ctx_cls = type(parent_ctx) if parent_ctx is not None else None
    ctx = ctx_cls(cmd, info_name=path[-1], parent=parent_ctx) if ctx_cls else None
    yield path, cmd, ctx
    commands = getattr(cmd, "commands", None)
    if commands:
        for name in sorted(commands):
            if not getattr(commands[name], "hidden", False):
                yield from _walk(commands[name], path + [name], ctx)


def render_cli() -> list[str]:
    from scratchcnn.cli import cli

    root_ctx = cli.make_context("scratchcnn", [], resilient_parsing=True)
    lines = [heading(2, "Command line", "cli"), "",
             md_inline(first_paragraph(inspect.cleandoc(cli.help or ""))), "",
             "Global options (before the verb): " + ", ".join(
                 f"`{'/'.join(p.opts + p.secondary_opts)}` ({md_inline(p.help or '')})"
                 for p in cli.params if p.param_type_name == "option" and not p.hidden) + ".", "",
             "| verb | what it does |", "|---|---|"]
    entries = []
    for name in sorted(cli.commands):
        if not getattr(cli.commands[name], "hidden", False):
            entries += list(_walk(cli.commands[name], ["scratchcnn", name], root_ctx))
    for path, cmd, _ in entries:
        lines.append(f"| [`{' '.join(path[1:])}`]({link(' '.join(path))}) | {md_inline(_short_help(cmd), True)} |")
    lines.append("")
    for path, cmd, ctx in entries:
        lines += [heading(3, ' '.join(path), ' '.join(path)), "", md_inline(_short_help(cmd)), ""]
        usage = " ".join(path + cmd.collect_usage_pieces(ctx))
        lines += ["```", usage, "```", ""]
        if getattr(cmd, "commands", None):
            lines += ["Subcommands: " + ", ".join(
                f"[`{n}`]({link(' '.join(path + [n]))})" for n in sorted(cmd.commands)
                if not getattr(cmd.commands[n], "hidden", False)), ""]
        options = [p for p in cmd.params if p.param_type_name == "option" and not getattr(p, "hidden", False)]
        if options:
            lines += ["| option | type | default | help |", "|---|---|---|---|"]
            for p in options:
                opt = " / ".join(f"`{o}`" for o in p.opts + p.secondary_opts)
                lines.append(f"| {opt} | {_option_type(p)} | {_option_default(p)} | "
                             f"{md_inline(' '.join((p.help or '').split()), True)} |")
            lines.append("")
    return lines


# --------------------------------------------------------------------------------------------------- page

def render() -> str:
    """The whole page, as written to docs/api.md."""
    lines = ["# scratchcnn API reference", "",
             "<!-- Generated by docs/gen_api.py from the installed package; do not edit by hand. "
             "Run `python docs/gen_api.py` after changing a public name, signature, docstring or CLI option "
             "(tests/test_api_doc.py fails until then). -->", "",
             "Every public name of each package (its `__all__`, in that order) with its signature and the first "
             "paragraph of its docstring, and every `scratchcnn` command-line verb with its options. How the "
             "layers fit together: [architecture.md](architecture.md).", "",
             "## Contents", ""]
    for name in PACKAGES:
        lines.append(f"- [{name}]({link(name)})")
    lines += [f"- [Command line]({link('cli')})", ""]
    for name in PACKAGES:
        lines += render_package(name)
    lines += render_cli()
    text = _resolve_links("\n".join(lines).rstrip("\n") + "\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    unknown = [a for a in args if a != "--check"]
    if unknown:
        print("usage: python docs/gen_api.py [--check]   (write docs/api.md; --check: exit 1 if it is out of date)",
              file=sys.stderr)
        return 0 if unknown in (["-h"], ["--help"]) else 2
    text = render()
    if "--check" in args:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.name} is out of date: run `python docs/gen_api.py`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(OUT.parent.parent)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
