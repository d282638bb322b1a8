"""The command line's surface, command by command (walked from the parser, so a new command is
covered the day it is added): every `--help` shows an example and says what each option and
argument does; every command that takes `-o` prints JSON that parses with `-o json`; bad input
is one line on stderr that names the input, exit code 1."""

from __future__ import annotations

import argparse

import pytest

from cryptnode.cli import build_parser

BASE = "version: v1alpha1\nmachine:\n  type: worker\n"
EPHEMERAL_NODEID = ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                    "  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n")


def commands(parser: argparse.ArgumentParser, path=()):
    """(path, parser) of every command and subcommand that runs something (has no subcommands
    of its own)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs and path:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from commands(sub, path + (name,))


def leaf_commands():
    seen, out = set(), []
    for path, parser in commands(build_parser()):
        if id(parser) not in seen:  # aliases share a parser
            seen.add(id(parser))
            out.append((path, parser))
    return out


def documented_actions(parser):
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction) or a.help == argparse.SUPPRESS:
            continue
        yield a


def one_line_error(r, *expect):
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr + r.stdout, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cryptnode: "), r
    for text in expect:
        assert text in lines[0], r
    return lines[0]


# --- help -------------------------------------------------------------------------------------

def test_every_command_is_found():
    names = {" ".join(p) for p, _ in leaf_commands()}
    assert {"config validate", "node create", "boot", "get", "versions", "kms serve",
            "bugs"} <= names


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in leaf_commands()])
def test_help_has_an_example_and_explains_every_option(cli, path):
    parser = dict((" ".join(p), q) for p, q in leaf_commands())[path]
    undocumented = [a.option_strings[0] if a.option_strings else a.dest
                    for a in documented_actions(parser) if not (a.help or "").strip()]
    assert undocumented == [], f"cryptnode {path}: no help text for {undocumented}"
    assert parser.description and parser.description.strip(), path
    r = cli(*path.split(), "--help")
    assert r.returncode == 0, r
    assert "example:\n  cryptnode " in r.stdout, r
    example = r.stdout.split("example:\n", 1)[1]
    assert all(line.startswith("  cryptnode ") for line in example.strip("\n").splitlines()), r
    # The first example runs this command (a follow-up line may run another one).
    first = example.strip().splitlines()[0].split()
    assert all(word in first for word in path.split()), (path, first)


# --- -o json ----------------------------------------------------------------------------------

def output_commands():
    return {" ".join(p) for p, parser in leaf_commands()
            if any("-o" in a.option_strings for a in parser._actions)}


# Commands with -o that need no node, with their arguments.
WITHOUT_NODE = {
    "config validate": lambda d: ["config", "validate", d / "c.yaml"],
    "config describe": lambda d: ["config", "describe", d / "c.yaml"],
    "versions": lambda d: ["versions"],
    "fault-points": lambda d: ["fault-points"],
    "bugs": lambda d: ["bugs"],
}
# Commands with -o run on a node (in this order, by test_json_of_node_commands).
ON_A_NODE = ["boot", "get", "advance", "apply-config", "patch", "firmware", "clear-tpm",
             "reboot", "upgrade", "reset"]


# Commands whose -o json is exercised by their own scenario (they run many nodes).
ELSEWHERE = {"crash-matrix"}  # scenarios/test_crash_matrix.py


def test_every_command_with_output_is_exercised_with_json():
    assert output_commands() == set(WITHOUT_NODE) | set(ON_A_NODE) | ELSEWHERE


@pytest.mark.parametrize("command", sorted(WITHOUT_NODE))
def test_json_of_commands_without_a_node(cli, tmp_path, command):
    (tmp_path / "c.yaml").write_text(BASE + "---\n" + EPHEMERAL_NODEID)
    r = cli(*WITHOUT_NODE[command](tmp_path), "-o", "json")
    assert r.returncode == 0, r
    data = r.json()
    assert data, r
    r = cli(*WITHOUT_NODE[command](tmp_path), "-o", "yaml")
    assert r.returncode == 0 and r.stdout.strip(), r


def test_json_of_node_commands(cli, node_dir, tmp_path):
    """Each node command with -o json prints the node summary (state, volumes) as JSON."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "---\n" + EPHEMERAL_NODEID)
    patch = tmp_path / "p.yaml"
    patch.write_text(BASE)  # merges into the v1alpha1 document: nothing changes
    runs = {
        "boot": ["boot", "--config", cfg],
        "get": ["get", "volumestatus"],
        "advance": ["advance", "30"],
        "apply-config": ["apply-config", "-f", cfg, "--mode=no-reboot"],
        "patch": ["patch", "mc", "--patch", f"@{patch}", "--mode=no-reboot"],
        "firmware": ["firmware", "--secure-boot=true"],
        "clear-tpm": ["clear-tpm"],
        "reboot": ["reboot"],
        "upgrade": ["upgrade", "--to", "1.12.9"],
        "reset": ["reset", "--system-labels-to-wipe", "EPHEMERAL", "--reboot=true"],
    }
    assert list(runs) == ON_A_NODE
    for command, args in runs.items():
        r = cli("-n", node_dir, *args, "-o", "json")
        assert r.returncode == 0, (command, r)
        data = r.json()
        assert data["state"] == "running" and data["volumes"], (command, data)
    r = cli("-n", node_dir, "get", "meta", "-o", "json")
    assert r.returncode == 0 and isinstance(r.json(), dict), r
    assert cli("-n", node_dir, "shutdown").returncode == 0


# --- errors -----------------------------------------------------------------------------------

NO_NODE = "/nonexistent/node"


@pytest.mark.parametrize("args,names", [
    (["config", "validate", "/nonexistent/c.yaml"], "/nonexistent/c.yaml"),
    (["config", "describe", "/nonexistent/c.yaml"], "/nonexistent/c.yaml"),
    (["node", "create", "/nonexistent/n", "--disk", "lots"], "--disk lots"),
    (["node", "create", "/nonexistent/n", "--talos-version", "2.0"], "2.0"),
    (["node", "create", "/nonexistent/n", "--trusted-ca", "/nonexistent/ca.pem"],
     "/nonexistent/ca.pem"),
    (["bugs", "talos#1"], "talos#1"),
    (["kms", "serve", "--listen", "192.0.2.1:4050"], "192.0.2.1:4050"),
    (["kms", "serve", "--cert-out", "/nonexistent/ca.pem"], "--cert-out"),
    (["-n", NO_NODE, "boot"], NO_NODE),
    (["-n", NO_NODE, "get", "volumestatus"], NO_NODE),
    (["-n", NO_NODE, "reboot"], NO_NODE),
    (["-n", NO_NODE, "shutdown"], NO_NODE),
    (["-n", NO_NODE, "advance", "30"], NO_NODE),
    (["-n", NO_NODE, "apply-config", "-f", "/nonexistent/c.yaml"], NO_NODE),
    (["-n", NO_NODE, "patch", "mc", "--patch", "@/nonexistent/p.yaml"], NO_NODE),
    (["-n", NO_NODE, "upgrade", "--to", "1.12.9"], NO_NODE),
    (["-n", NO_NODE, "reset", "--system-labels-to-wipe", "EPHEMERAL"], NO_NODE),
    (["-n", NO_NODE, "crash-at", "meta.between_copies"], NO_NODE),
    (["-n", NO_NODE, "firmware", "--secure-boot=false"], NO_NODE),
    (["-n", NO_NODE, "clear-tpm"], NO_NODE),
    (["get", "volumestatus"], "-n DIR"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_line_naming_it(cli, args, names):
    one_line_error(cli(*args), names)


def test_bad_input_on_a_node_directory(cli, node_dir, tmp_path):
    """Inputs checked before the node process is asked anything: each names itself."""
    one_line_error(cli("-n", node_dir, "apply-config", "-f", tmp_path / "missing.yaml"),
                   str(tmp_path / "missing.yaml"))
    one_line_error(cli("-n", node_dir, "patch", "mc", "--patch", "inline: yaml"), "--patch")
    one_line_error(cli("-n", node_dir, "patch", "mc", "--patch", f"@{tmp_path}/p.yaml"),
                   f"{tmp_path}/p.yaml")
    one_line_error(cli("-n", node_dir, "crash-at", "no.such.point"), "no.such.point")
    one_line_error(cli("-n", node_dir, "reset", "--system-labels-to-wipe", "EPHEMERAL,"),
                   "EPHEMERAL,")
    one_line_error(cli("-n", tmp_path, "get", "volumestatus"), str(tmp_path))
    # Asked of a node that is not running: the error names the node directory.
    one_line_error(cli("-n", node_dir, "get", "volumestatus"), str(node_dir))
