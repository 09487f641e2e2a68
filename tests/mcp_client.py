"""An MCP client (the official Python SDK) driving `research mcp` over stdio, as an agent would.

Usage: mcp_client.py RESEARCH_BINARY WORK_DIR SQLITE_DOCS

Starts the server twice: on the bundled sample corpus, then on a Debian manual. Lists the tools,
calls each one, reads the reports as resources, cancels a long research call midway and resumes
it, and checks that paths outside the served corpora, the web and private addresses are refused
and that secrets from the server's environment never come back. Prints one line per check; any
failure raises (non-zero exit).
"""

import asyncio
import json
import os
import re
import subprocess
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BINARY, WORK, SQLITE = sys.argv[1], sys.argv[2], os.path.realpath(sys.argv[3])
INDEX = os.path.join(WORK, "index")
OUT = os.path.join(WORK, "reports")
SECRET = "sk-test-4f9c2a7e1b3d5f60"


def ok(what):
    print(f"ok: {what}", flush=True)


def check(condition, what, detail=""):
    if not condition:
        raise AssertionError(f"{what}: {detail}")


def server(*corpus, extra=()):
    args = ["mcp", "--index", INDEX, "--out", OUT, *extra]
    for c in corpus:
        args += ["--corpus", c]
    # A key in the server's environment must never reach a result.
    return StdioServerParameters(
        command=BINARY, args=args, env={"EXAMPLE_API_KEY": SECRET, "RUST_BACKTRACE": "0"}
    )


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


def expect_ok(result, what):
    check(not result.is_error, what, text_of(result)[:500])
    check(isinstance(result.structured_content, dict), f"{what}: structured content", result)
    check(SECRET not in text_of(result) + json.dumps(result.structured_content), f"{what}: no key")
    return result.structured_content


def expect_refused(result, what, words):
    check(result.is_error, f"{what} is refused", text_of(result)[:300])
    message = text_of(result)
    for w in words:
        check(w in message, f"{what}: the error says '{w}'", message)
    check(result.structured_content["error"]["kind"] in ("refused", "invalid"), what, result)
    ok(f"{what} refused: {message[:110]}")


def runs():
    out = subprocess.run(
        [BINARY, "runs", "--index", INDEX], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[0]: line.split()[2] for line in out.splitlines()[1:] if line.strip()}


def check_quote(q, what):
    for key in ("source", "start", "end", "quote", "doc_hash"):
        check(key in q, f"{what}: a quote has {key}", q)
    check(q["start"] < q["end"], f"{what}: a span", q)
    check(q["quote"].strip(), f"{what}: a quote's text", q)


async def bundled():
    async with stdio_client(server()) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()

            tools = {t.name: t for t in (await session.list_tools()).tools}
            check(set(tools) == {"research", "verify", "search", "check_plan"}, "tools", tools)
            props = tools["research"].input_schema["properties"]
            for p in ("question", "corpora", "reviewers", "quorum", "min_sources", "max_claims",
                      "depth", "breadth", "web", "allow_private", "resume"):
                check(p in props, f"research's schema has {p}", props)
            check(props["reviewers"].get("default") == 5, "the panel's default", props["reviewers"])
            check(props["depth"].get("default") == 2 and props["depth"].get("maximum") == 8,
                  "the rounds' default and limit", props["depth"])
            check("--reviewers" not in json.dumps(props), "schema speaks of arguments", props)
            check("query" in tools["search"].input_schema["properties"], "search's schema")
            check(tools["search"].annotations.read_only_hint is True, "search reads only")
            check(tools["research"].annotations.destructive_hint is False, "research overwrites nothing")
            ok("four tools listed, schemas from the panel's settings")

            r = expect_ok(await session.call_tool(
                "search", {"query": "storage temperature state of charge", "k": 3}), "search")
            passages = r["passages"]
            check(len(passages) == 3, "search returns k passages", passages)
            for p in passages:
                check(p["source"].startswith("corpora/batteries/"), "a bundled source", p)
                check(len(p["text"].encode()) == p["end"] - p["start"], "span fits the text", p)
                check(isinstance(p["heading_path"], list), "a heading path", p)
            ok(f"search on the bundled corpus: {passages[0]['source']} {passages[0]['heading_path']}")

            r = expect_ok(await session.call_tool(
                "search", {"query": f"battery {SECRET}"}), "search echoing a key")
            check(SECRET not in r["query"] and "[redacted]" in r["query"], "the key is blanked", r)
            ok("a key from the server's environment is blanked out of results")

            claim = "Storing lithium-ion batteries at high temperature speeds up their ageing"
            r = expect_ok(await session.call_tool(
                "verify", {"claims": [claim, "Lithium-ion batteries should be stored at 100% charge"]}),
                "verify")
            v = r["verdicts"]
            check(len(v) == 2 and v[0]["verdict"] == "supported", "verify's verdicts", v)
            check(v[0]["deciding"], "a supported claim has deciding quotes", v[0])
            for q in v[0]["deciding"]:
                check_quote(q, "verify")
                check(q["stance"] == "support", "a deciding vote supports", q)
            check(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", r["run"]), "verify's run id", r)
            ok(f"verify: {v[0]['verdict']} ({len(v[0]['deciding'])} deciding quotes), {v[1]['verdict']}")

            progress = []

            async def on_progress(value, total, message):
                progress.append(message)

            r = expect_ok(await session.call_tool(
                "research", {"question": "How should lithium-ion batteries be stored?",
                             "reviewers": 3, "depth": 1}, progress_callback=on_progress), "research")
            check(r["markdown"].startswith("# "), "the report's Markdown", r["markdown"][:100])
            check("## Research trail" not in r["markdown"], "depth 1 is a single pass",
                  r["markdown"][:300])
            check(os.path.isfile(r["path"]) and r["path"].startswith(os.path.realpath(OUT)),
                  "the report's path", r["path"])
            check(open(r["path"], encoding="utf-8").read() == r["markdown"], "path and Markdown")
            check(any(m and m.startswith("run ") for m in progress), "progress names the run", progress)
            check(runs().get(r["run"]) == "done", "the run is journaled", runs())
            ok(f"research: {os.path.basename(r['path'])}, {len(progress)} progress messages, "
               f"{r['stats']['kept']} kept")

            resources = (await session.list_resources()).resources
            uris = [str(x.uri) for x in resources]
            check(r["uri"] in uris, "the report is a resource", uris)
            read = await session.read_resource(r["uri"])
            check(read.contents[0].text == r["markdown"], "reading the report by URI")
            ok(f"resources: {len(uris)} listed, the report read by {r['uri']}")

            try:
                await session.read_resource("research://reports/../index/meta.json")
                check(False, "a resource outside the report folder is refused")
            except Exception as e:  # the SDK raises the server's error
                ok(f"resource outside the reports refused: {str(e)[:80]}")

            expect_refused(await session.call_tool(
                "search", {"query": "x", "corpora": ["/etc"]}), "a path outside the corpora",
                ["/etc", "outside"])
            expect_refused(await session.call_tool(
                "research", {"question": "x", "web": True}), "the web", ["without the web"])
            expect_refused(await session.call_tool(
                "research", {"question": "x", "allow_private": True}), "private addresses",
                ["--allow-private"])
            expect_refused(await session.call_tool(
                "verify", {"claim": "x", "index": "/tmp"}), "an unknown argument", ["index"])
            expect_refused(await session.call_tool(
                "research", {"question": "x", "depth": 9}), "too many rounds", ["depth", "1 to 8"])
            expect_refused(await session.call_tool(
                "research", {"resume": "20990101-000000-000000"}), "an unknown run", ["run"])
            expect_refused(await session.call_tool(
                "research", {"resume": r["run"], "web": True}), "resume with settings",
                ["alone"])


async def manual():
    plan = (
        "# Storage plan\n\n"
        "We keep the application's data in SQLite in WAL mode.\n"
        "The database file lives on a network filesystem shared by all hosts.\n"
        "SQLite allows only one writer at a time.\n"
    )
    async with stdio_client(server(SQLITE)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()

            # The first calls on the manual come at once: each needs it indexed, and the one
            # store the server holds must come out whole.
            query = {"query": "write-ahead log checkpoint", "k": 5}
            first = await asyncio.gather(
                session.call_tool("search", query),
                session.call_tool("verify", {"claim": "WAL mode uses a write-ahead log file"}),
                session.call_tool("search", {"query": "busy timeout locking", "k": 3}),
                session.call_tool("research", {"question": "What is the WAL checkpoint?"}),
            )
            for i, res in enumerate(first):
                expect_ok(res, f"concurrent call {i}")
            r = expect_ok(await session.call_tool("search", query), "search the manual")
            check(r == first[0].structured_content, "the same search after concurrent calls",
                  (r, first[0].structured_content))
            stats = subprocess.run([BINARY, "index", "stats", "--index", INDEX],
                                   capture_output=True, text=True, check=True).stdout
            ok("four concurrent calls on a fresh corpus; the index reads back the same: "
               + " ".join(stats.split()[2:6]))
            check(len(r["passages"]) == 5, "five passages", r)
            check(all(p["source"].startswith(SQLITE) for p in r["passages"]), "from the manual", r)
            one = expect_ok(await session.call_tool(
                "search", dict(query, corpora=["wal.html"])), "search one file of the manual")
            check(one["passages"] and all(p["source"] == os.path.join(SQLITE, "wal.html")
                                          for p in one["passages"]), "a path inside the corpus", one)
            again = expect_ok(await session.call_tool("search", query), "the whole manual again")
            check(again == r, "the whole manual still finds that file's passages", (again, r))
            ok("a path inside the corpus narrows the search; the whole corpus finds the same after")
            ok(f"search on {SQLITE}: {r['passages'][0]['source']} {r['passages'][0]['heading_path']}")

            r = expect_ok(await session.call_tool(
                "verify", {"claim": "WAL does not work over a network filesystem",
                           "corpora": [SQLITE]}), "verify on the manual")
            v = r["verdicts"][0]
            check(v["verdict"] in ("supported", "refuted", "disputed", "insufficient"), "verdict", v)
            for q in v["deciding"]:
                check_quote(q, "verify on the manual")
            ok(f"verify on the manual: {v['verdict']} ({v['reason']})")

            r = expect_ok(await session.call_tool(
                "check_plan", {"text": plan, "angles": ["correctness", "operability"]}),
                "check_plan")
            check([a["angle"] for a in r["angles"]] == ["correctness", "operability"], "angles", r)
            statements = r["angles"][0]["statements"]
            check(len(statements) >= 2, "statements checked", statements)
            for s in statements:
                check(s["verdict"] in ("contradicted", "disputed", "unverifiable", "confirmed"),
                      "a statement's verdict", s)
                check(isinstance(s["line"], int) and s["statement"], "its line and text", s)
                for q in s["quotes"]:
                    check_quote(q, "check_plan")
            check(os.path.isfile(r["path"]), "the check's report", r["path"])
            ok("check_plan: " + "; ".join(f"line {s['line']} {s['verdict']}" for s in statements))

            expect_refused(await session.call_tool(
                "check_plan", {"path": "/etc/hostname"}), "a plan outside the corpora",
                ["outside"])
            expect_refused(await session.call_tool(
                "search", {"query": "x", "corpora": [os.path.join(SQLITE, "..", "..")]}),
                "a path climbing out of the corpus", ["outside"])

            # A long call cancelled midway (once the panel is voting) stops cleanly: journaled
            # as stopped, resumable.
            run_id = None
            voting = asyncio.Event()

            async def on_progress(value, total, message):
                nonlocal run_id
                m = re.match(r"run (\S+)", message or "")
                if m:
                    run_id = m.group(1)
                if "voting" in (message or ""):
                    voting.set()

            question = "How does SQLite handle locking, journaling and crash recovery?"
            call = asyncio.create_task(session.call_tool(
                "research", {"question": question, "reviewers": 15, "max_claims": 200,
                             "passages_per_agent": 60}, progress_callback=on_progress))
            await asyncio.wait_for(voting.wait(), 120)
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            check(run_id, "the run's id came with the progress")
            status = None
            for _ in range(600):
                status = runs().get(run_id)
                if status != "running":
                    break
                await asyncio.sleep(0.1)
            check(status == "stopped", "the cancelled run is journaled as stopped", status)
            ok(f"research cancelled while voting: run {run_id} {status}")

            r = expect_ok(await session.call_tool("research", {"resume": run_id}), "resume")
            check(r["run"] == run_id and r["markdown"].startswith("# "), "the resumed report", r)
            check(runs().get(run_id) == "done", "the resumed run is done", runs())
            ok(f"resumed {run_id}: {os.path.basename(r['path'])}")


async def with_the_web():
    # Started with the web (a search endpoint nothing answers on) but not private addresses:
    # a call may turn the web off, and may not ask for private addresses.
    config = os.path.join(WORK, "research.toml")
    file_key = "sk-file-9d8c7b6a5f4e"
    with open(config, "w", encoding="utf-8") as f:
        f.write(f'[providers.local]\nkind = "openai"\napi_key = "{file_key}"\n')
    web = ["--web", "--search", "searxng=http://127.0.0.1:9", "--config", config]
    async with stdio_client(server(SQLITE, extra=web)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            check("Web: allowed" in tools["research"].description, "the web is announced")
            expect_refused(await session.call_tool(
                "research", {"question": "What is WAL?", "allow_private": True}),
                "private addresses on a web server", ["--allow-private"])
            r = expect_ok(await session.call_tool(
                "research", {"question": "What is a WAL checkpoint?", "web": False}),
                "research with the web turned off")
            ok(f"a web server's call without the web: {os.path.basename(r['path'])}")
            r = expect_ok(await session.call_tool(
                "search", {"query": f"checkpoint {file_key}"}), "search echoing research.toml's key")
            check(file_key not in json.dumps(r) and "[redacted]" in r["query"], "blanked", r)
            ok("a key research.toml holds is blanked out of results")


async def main():
    await bundled()
    await manual()
    await with_the_web()
    print("all MCP checks passed", flush=True)


asyncio.run(main())
