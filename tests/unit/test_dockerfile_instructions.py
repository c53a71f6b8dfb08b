import re

import pytest
from ansible_collections.berth.engine.plugins.module_utils.build import instructions as I
from ansible_collections.berth.engine.plugins.module_utils.build import parser, stages
from ansible_collections.berth.engine.plugins.module_utils.build.mounts import MountError, parse_mount
from ansible_collections.berth.engine.plugins.module_utils.build.shell import Expander
from ansible_collections.berth.engine.plugins.module_utils.build.values import (
    format_duration,
    go_bool,
    go_duration,
    ram_in_bytes,
)
from ansible_collections.berth.engine.plugins.module_utils.errors import BuildError

AUTO = {"TARGETPLATFORM": "linux/amd64", "TARGETARCH": "amd64"}


def one(text: str) -> I.Instruction:
    return I.parse_instruction(text)


def instructions(text: str) -> list[I.Instruction]:
    return I.instructions_from(parser.parse(text))


# -- one instruction each -------------------------------------------------------------------------

def test_from_with_platform_and_stage_name():
    f = one("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build")
    assert isinstance(f, I.From)
    assert (f.image, f.name, f.platform) == ("golang:1.22", "build", "$BUILDPLATFORM")


@pytest.mark.parametrize("text, message", [
    ("FROM a AS 1x", "invalid name for build stage"),
    ("FROM a b", "FROM requires either one or three arguments"),
    ("FROM --pull a", "unknown flag: pull"),
])
def test_from_errors(text, message):
    with pytest.raises(BuildError, match=message):
        one(text)


def test_run_forms_and_flags():
    shell_form = one("RUN --network=NONE --security=insecure apt-get update && \\\n  apt-get install -y x")
    assert isinstance(shell_form, I.Run)
    assert shell_form.command == ("apt-get update &&   apt-get install -y x",)
    assert shell_form.shell_form and shell_form.network == "none" and shell_form.security == "insecure"
    exec_form = one('RUN ["/bin/echo", "a b"]')
    assert exec_form.command == ("/bin/echo", "a b") and not exec_form.shell_form
    assert exec_form.plan(["/bin/sh", "-c"]).args == ("/bin/echo", "a b")
    assert shell_form.plan(["/bin/sh", "-c"]).args[:2] == ("/bin/sh", "-c")


@pytest.mark.parametrize("text, message", [
    ("RUN --network=bridge x", "unsupported network mode"),
    ("RUN --security=root x", "unsupported security mode"),
    ("RUN --mount=type=nfs,target=/x x", "unsupported mount type"),
    ("RUN --mount=target=/x,bogus=1 x", "unexpected key 'bogus'"),
    ("RUN --mount=type=bind x", "mount target is required"),
    ("RUN --mount=type=bind,target=/x,mode=0644 x", "mode not allowed"),
    ("RUN --mount=type=bind,target=/x,sharing=locked x", "invalid cache sharing"),
    ("RUN --mount=type=secret x", "one of source, target required"),
    ("RUN --mount=type=cache,target=/x,from=$STAGE x", "doesn't support variable expansion"),
    ("RUN --nope x", "unknown flag: nope"),
    ("RUN --network x", "missing a value on flag: network"),
    ("RUN --network=none --network=host x", "duplicate flag specified: network"),
])
def test_run_flag_errors(text, message):
    with pytest.raises(BuildError, match=message) as err:
        one(text)
    assert err.value.line == 1


def test_run_mounts_defaults_and_expansion():
    run = one("RUN --mount=type=cache,target=/root/.cache/$TOOL,sharing=locked "
              "--mount=type=secret,id=npmrc --mount=type=ssh --mount=target=/src,rw make")
    cache, secret, ssh, bind = run.mounts
    assert cache.target == "/root/.cache/$TOOL"            # kept until the step runs
    assert (secret.target, secret.mode, secret.id) == ("/run/secrets/npmrc", 0o400, "npmrc")
    assert (ssh.target, ssh.id, ssh.mode) == ("/run/buildkit/ssh_agent.2", "default", 0o600)
    assert (bind.type, bind.readonly) == ("bind", False)
    expanded = run.expand(Expander({"TOOL": "pip"}))
    assert expanded.mounts[0].target == "/root/.cache/pip"
    assert expanded.mounts[0].id == "/root/.cache/pip" and expanded.mounts[0].sharing == "locked"
    assert run.mounts[0].target == "/root/.cache/$TOOL"    # frozen: the original is untouched


def test_parse_mount_values():
    m = parse_mount('type=tmpfs,target=/t,size=64m,"ro=false"')
    assert (m.size, m.readonly) == (64 << 20, False)
    m = parse_mount("type=cache,target=/c,mode=0700,uid=1000,gid=1000,id=x")
    assert (m.mode, m.uid, m.gid, m.id, m.readonly) == (0o700, 1000, 1000, "x", False)
    assert parse_mount("type=bind,source=a,target=/b,from=build").readonly is True
    with pytest.raises(MountError, match="invalid value 9 for mode"):
        parse_mount("type=cache,target=/c,mode=9")


def test_run_heredoc_plans():
    script = instructions("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n")[0]
    plan = script.plan(["/bin/sh", "-c"])
    assert plan.args == ("/bin/sh", "-c", "/dev/pipes/EOF")
    assert plan.files == (I.InlineFile("/dev/pipes/EOF", "#!/usr/bin/env python3\nprint(1)\n", 0o755),)
    body = instructions("RUN <<-EOF\n\techo a\n\tEOF\n")[0]
    assert body.plan(["sh", "-c"]).args == ("sh", "-c", "echo a\n")
    inline = instructions("RUN cat <<A > /f\nx\nA\n")[0]
    assert inline.plan(["sh", "-c"]).args == ("sh", "-c", "cat <<A > /f\nx\nA")
    assert inline.cache_text == "RUN cat <<A > /f\nx\nA"


def test_copy_and_add():
    c = one("COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md a b /dst/")
    assert isinstance(c, I.Copy)
    assert (c.sources, c.dest, c.from_, c.chown, c.chmod) == (("a", "b"), "/dst/", "build", "app:app", "0755")
    assert c.link and c.parents and c.exclude == ("*.md",)
    a = one("ADD --checksum=sha256:abc --keep-git-dir=false --unpack=true https://x/y.tgz /y")
    assert isinstance(a, I.Add)
    assert (a.checksum, a.keep_git_dir, a.unpack) == ("sha256:abc", False, True)
    assert one("ADD x y").unpack is None
    j = one('COPY ["a b", "/c d/"]')
    assert (j.sources, j.dest) == (("a b",), "/c d/")


@pytest.mark.parametrize("text, message", [
    ("COPY a", "requires at least two arguments"),
    ("COPY --from a b", "missing a value on flag: from"),
    ("COPY --link=maybe a b", "expecting boolean value for flag link"),
    ("COPY --checksum=x a b", "unknown flag: checksum"),
    ("ADD --from=x a b", "unknown flag: from"),
])
def test_copy_errors(text, message):
    with pytest.raises(BuildError, match=message):
        one(text)


def test_copy_heredoc_sources_and_expansion():
    c = instructions("COPY <<one <<'two' /dst/\n$A\none\n$A\ntwo\n")[0]
    assert c.sources == () and [(s.name, s.expand) for s in c.inline] == [("one", True), ("two", False)]
    e = c.expand(Expander({"A": '"x"'}))
    assert [s.data for s in e.inline] == ['"x"\n', "$A\n"]
    assert c.cache_text == "COPY <<one <<'two' /dst/\n$A\none\n$A\ntwo"


def test_expansion_of_copy_flags_and_paths():
    c = one("COPY --from=$S --chown=${U}:${G:-staff} ${SRC:-src}/*.py $DEST")
    e = c.expand(Expander({"S": "build", "U": "app", "DEST": "/opt/app/"}))
    assert (e.from_, e.chown, e.sources, e.dest) == ("build", "app:staff", ("src/*.py",), "/opt/app/")


def test_env_label_arg():
    env = one('ENV A=1 B="two words" C=$A')
    assert env.pairs == (("A", "1"), ("B", '"two words"'), ("C", "$A"))
    # every pair sees the variables from before the instruction
    assert env.expand(Expander({"A": "old"})).pairs == (("A", "1"), ("B", "two words"), ("C", "old"))
    assert one("ENV LEGACY some value").pairs == (("LEGACY", "some value"),)
    assert one('LABEL "com.example.a"="x y" b=c').expand(Expander({})).pairs == (("com.example.a", "x y"), ("b", "c"))
    arg = one("ARG A B=2 C=")
    assert arg.args == (("A", None), ("B", "2"), ("C", ""))
    with pytest.raises(BuildError, match="ARG names can not be blank"):
        one("ARG =x")
    with pytest.raises(BuildError, match="ENV names can not be blank"):
        one("ENV =x")
    with pytest.raises(BuildError, match="LABEL requires at least one argument"):
        one("LABEL")


def test_simple_instructions():
    assert one("WORKDIR $HOME/app").expand(Expander({"HOME": "/root"})).path == "/root/app"
    assert one("USER ${U}:1").expand(Expander({"U": "app"})).user == "app:1"
    assert one("EXPOSE 8080 80/udp 443").ports == ("443", "80/udp", "8080")
    assert one('VOLUME ["/data", "/logs"]').paths == ("/data", "/logs")
    assert one("MAINTAINER Jane <j@example.com>").maintainer == "Jane <j@example.com>"
    assert one("STOPSIGNAL SIGINT").signal == "SIGINT"
    assert one("STOPSIGNAL 9").signal == "9"
    assert one("STOPSIGNAL $S").expand(Expander({"S": "TERM"})).signal == "TERM"
    with pytest.raises(BuildError, match="invalid signal: SIGFOO"):
        one("STOPSIGNAL SIGFOO")
    with pytest.raises(BuildError, match="WORKDIR requires exactly one argument"):
        one("WORKDIR")


def test_cmd_entrypoint_shell():
    cmd = one("CMD echo $HOME")
    assert cmd.argv(["/bin/sh", "-c"]) == ["/bin/sh", "-c", "echo $HOME"]
    assert one('CMD ["a", "b"]').argv(["/bin/sh", "-c"]) == ["a", "b"]
    assert one("ENTRYPOINT []").command == ()
    assert one('SHELL ["/bin/bash", "-eu", "-c"]').shell == ("/bin/bash", "-eu", "-c")
    with pytest.raises(BuildError, match="SHELL requires the arguments to be in JSON form"):
        one("SHELL /bin/bash -c")
    with pytest.raises(BuildError, match="SHELL requires at least one argument"):
        one("SHELL []")
    # the builder never expands these
    assert one("CMD $X").expand(Expander({"X": "y"})).command == ("$X",)


def test_healthcheck():
    h = one("HEALTHCHECK --interval=1m30s --timeout=3s --start-period=1.5s --start-interval=500ms "
            "--retries=3 CMD curl -f http://localhost/ || exit 1")
    assert h.test == ("CMD-SHELL", "curl -f http://localhost/ || exit 1")
    assert (h.interval, h.timeout, h.start_period, h.start_interval, h.retries) == (
        90_000_000_000, 3_000_000_000, 1_500_000_000, 500_000_000, 3)
    assert h.config() == {"Test": list(h.test), "Interval": 90_000_000_000, "Timeout": 3_000_000_000,
                          "StartPeriod": 1_500_000_000, "StartInterval": 500_000_000, "Retries": 3}
    assert one('HEALTHCHECK CMD ["/check", "-q"]').test == ("CMD", "/check", "-q")
    assert one("HEALTHCHECK none").config() == {"Test": ["NONE"]}
    assert one("HEALTHCHECK --timeout=0s --retries=0 CMD x").timeout == 0


@pytest.mark.parametrize("text, message", [
    ("HEALTHCHECK --interval=10us CMD x", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK --interval=ten CMD x", 'invalid duration "ten"'),
    ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative"),
    ("HEALTHCHECK CONNECT TCP 7000", "unknown type for healthcheck: CONNECT"),
    ("HEALTHCHECK CMD", "missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ("HEALTHCHECK --port=1 CMD x", "unknown flag: port"),
])
def test_healthcheck_errors(text, message):
    with pytest.raises(BuildError, match=message):
        one(text)


def test_onbuild():
    o = one("ONBUILD COPY --chown=app . /src")
    assert isinstance(o, I.Onbuild) and isinstance(o.trigger, I.Copy)
    assert o.expression == "COPY --chown=app . /src"
    assert o.trigger.chown == "app" and o.trigger.line == 1
    h = instructions("onbuild RUN <<EOF\necho hi\nEOF\n")[0]
    assert h.expression == "RUN <<EOF\necho hi\nEOF" and h.trigger.heredocs[0].content == "echo hi\n"
    for bad, message in (("ONBUILD ONBUILD RUN x", "Chaining ONBUILD"),
                         ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
                         ("ONBUILD COPY --bogus a b", "unknown flag: bogus")):
        with pytest.raises(BuildError, match=message):
            one(bad)


def test_errors_carry_file_and_line():
    with pytest.raises(BuildError) as err:
        I.instructions_from(parser.parse("FROM a\n\nCOPY --user=me a b\n", "app.Dockerfile"), "app.Dockerfile")
    assert err.value.line == 3
    assert str(err.value) == "app.Dockerfile:3: unknown flag: user"


def test_step_rendering_is_the_original_text():
    instrs = instructions("FROM busybox AS base\nrun   echo a \\\n  b\nENV A=1\n")
    assert [I.render_step(n, 3, i) for n, i in enumerate(instrs, 1)] == [
        "Step 1/3 : FROM busybox AS base", "Step 2/3 : run   echo a   b", "Step 3/3 : ENV A=1"]


def test_to_dict():
    d = one("RUN --mount=type=tmpfs,target=/t echo").to_dict()
    assert d["instruction"] == "RUN" and d["mounts"][0]["type"] == "tmpfs" and d["command"] == ("echo",)


# -- stages ------------------------------------------------------------------------------------------

MULTI = """\
ARG BASE=alpine
ARG TAG=3.19
ARG FULL=${BASE}:${TAG}
FROM ${FULL} AS Builder
ARG TAG
ARG OTHER=x
RUN echo $TAG
FROM builder AS test
RUN true
FROM --platform=$TARGETPLATFORM scratch
COPY --from=builder /out /out
COPY --from=0 /a /a
"""


def test_meta_args_expand_from_lines_and_build_args_win():
    df = stages.parse_dockerfile(MULTI, {"TAG": "3.20"}, auto_args=AUTO)
    first, second, last = df.stages
    assert (first.name, first.base, first.base_stage) == ("builder", "alpine:3.20", None)
    assert (second.base, second.base_stage) == ("builder", 0)
    assert last.scratch and last.platform == "linux/amd64"
    assert df.meta_values["FULL"] == "alpine:3.20"
    assert [a.args[0][0] for a in df.meta_args] == ["BASE", "TAG", "FULL"]
    assert [s.index for s in stages.parse_stages(MULTI)] == [0, 1, 2]


def test_targets_and_dependencies():
    df = stages.parse_dockerfile(MULTI, auto_args=AUTO)
    assert df.target().index == 2 and df.target("TEST").index == 1
    with pytest.raises(BuildError, match="target stage 'nope' could not be found"):
        df.target("nope")
    assert df.dependencies(2) == {0, 2}
    assert df.dependencies(1) == {0, 1}
    assert df.stage_index("builder") == 0 and df.stage_index("alpine") is None


def test_steps_count_meta_args_and_froms():
    df = stages.parse_dockerfile(MULTI, auto_args=AUTO)
    steps = df.steps()
    assert len(steps) == 12 and steps[0][:2] == (1, 12)
    assert I.render_step(*steps[3]) == "Step 4/12 : FROM ${FULL} AS Builder"


@pytest.mark.parametrize("text, message, line", [
    ("RUN x\n", "no build stage in current context", 1),
    ("FROM a AS x\nFROM b AS X\n", "duplicate stage name 'x'", 2),
    ("FROM a\nCOPY --from=1 a b\n", "invalid from flag value 1", 2),
    ("ARG E\nFROM ${E}\n", "base name (${E}) should not be blank", 2),
    ("FROM ${X:?required}\n", "X: required", 1),
])
def test_stage_errors(text, message, line):
    with pytest.raises(BuildError, match=re.escape(message)) as err:
        stages.parse_dockerfile(text, auto_args=AUTO)
    assert err.value.line == line


def test_stage_vars_follow_docker_scoping():
    df = stages.parse_dockerfile(
        "ARG V=meta\nFROM a\nARG V\nARG W=$V-w\nENV E=$W P=$PATH\nARG E=arg\nWORKDIR /$E/$V\n"
        "ARG UNSET\nLABEL u=${UNSET:-none}\n", {"http_proxy": "http://p", "EXTRA": "1"}, auto_args=AUTO)
    vars = stages.StageVars(df, ["PATH=/bin", "HOME=/root"], {"http_proxy": "http://p", "EXTRA": "1"})
    out = list(stages.iter_expanded(df.stages[0], vars))
    assert out[2].pairs == (("E", "meta-w"), ("P", "/bin"))
    assert out[4].path == "/meta-w/meta"         # ENV E wins over ARG E
    assert out[6].pairs == (("u", "none"),)
    assert vars.run_env()["http_proxy"] == "http://p" and vars.run_env()["V"] == "meta"
    assert vars.declared_args() == [("V", "meta"), ("W", "meta-w"), ("E", "arg")]
    assert vars.unused_build_args() == ["EXTRA"]
    assert {"V", "W"} <= vars.used


def test_platform_args_shape():
    args = stages.platform_args("linux/arm64/v8", "linux/amd64")
    assert (args["TARGETOS"], args["TARGETARCH"], args["TARGETVARIANT"]) == ("linux", "arm64", "v8")
    assert args["BUILDPLATFORM"] == "linux/amd64" and args["BUILDVARIANT"] == ""


# -- Go values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, ns", [
    ("0", 0), ("1s", 10**9), ("1m30s", 90 * 10**9), ("1.5h", 5400 * 10**9), ("300ms", 3 * 10**8),
    ("2us", 2000), ("1µs", 1000), ("-2m", -120 * 10**9), (".5s", 5 * 10**8), ("1h1m1s1ms", 3661001000000),
])
def test_go_duration(text, ns):
    assert go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "1", "s", "1x", "1..2s", "-", "1s2"])
def test_go_duration_errors(text):
    with pytest.raises(ValueError, match="time: "):
        go_duration(text)


def test_other_go_values():
    assert [go_bool(x) for x in ("1", "t", "TRUE", "0", "False")] == [True, True, True, False, False]
    with pytest.raises(ValueError):
        go_bool("yes")
    assert [ram_in_bytes(x) for x in ("100", "1k", "64m", "1.5g", "2GiB")] == [100, 1024, 64 << 20, 3 << 29, 2 << 30]
    with pytest.raises(ValueError, match="invalid size"):
        ram_in_bytes("lots")
    assert [format_duration(x) for x in (0, 90 * 10**9, 3 * 10**6, 3661 * 10**9)] == ["0s", "1m30s", "3ms", "1h1m1s"]
