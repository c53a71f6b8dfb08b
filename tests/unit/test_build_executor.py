"""The executor's config instructions (pure: no step runs): what each does to the image config,
its history text, and the ENTRYPOINT/CMD rule."""
from __future__ import annotations

import pytest
from ansible_collections.berth.engine.plugins.module_utils.build.context import BuildContext
from ansible_collections.berth.engine.plugins.module_utils.build.executor import (
    BuildOptions,
    ImageState,
    StageExecutor,
)
from ansible_collections.berth.engine.plugins.module_utils.build.ignore import IgnoreMatcher
from ansible_collections.berth.engine.plugins.module_utils.build.stages import StageVars, parse_dockerfile
from ansible_collections.berth.engine.plugins.module_utils.engine import Engine
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths


@pytest.fixture
def executor(tmp_path):
    def make(text: str, build_args=None):
        paths = Paths(tmp_path / "root", tmp_path / "run")
        (tmp_path / "ctx").mkdir(exist_ok=True)
        ctx = BuildContext(tmp_path / "ctx", text, "Dockerfile", IgnoreMatcher([]))
        df = parse_dockerfile(text, build_args or {})
        ex = StageExecutor(Engine(paths), df, ctx, BuildOptions(build_args=build_args or {}), None)
        return ex, df
    return make


def configure_all(ex, df, base_config=None):
    """Apply every instruction of the last stage with configure(); returns (state, history texts)."""
    state = ImageState(None, {"config": dict(base_config or {})})
    stage = df.stages[-1]
    vars = StageVars(df, state.run.get("Env") or [], ex.options.build_args)
    texts = []
    for instr in stage.instructions:
        expanded = vars.expand(instr)
        vars.apply(expanded)
        texts.append(ex.configure(expanded, state))
    return state, texts


def test_config_instructions_and_history_texts(executor):
    ex, df = executor(
        "FROM scratch\nARG V=1\nENV A=$V B=\"two words\"\nLABEL l1=$V l2=x\nEXPOSE 80 53/udp\nVOLUME /a /b\n"
        "USER nobody\nSTOPSIGNAL SIGINT\nMAINTAINER someone\nONBUILD RUN echo child\n"
        'SHELL ["/bin/bash", "-c"]\nCMD echo $A\nHEALTHCHECK --retries=3 CMD ["true"]\n',
        build_args={"V": "9"})
    state, texts = configure_all(ex, df)
    run = state.run
    assert run["Env"] == ["A=9", "B=two words"]
    assert run["Labels"] == {"l1": "9", "l2": "x"}
    assert run["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert run["Volumes"] == {"/a": {}, "/b": {}}
    assert run["User"] == "nobody" and run["StopSignal"] == "SIGINT"
    assert state.config["author"] == "someone"
    assert run["OnBuild"] == ["RUN echo child"]
    assert run["Shell"] == ["/bin/bash", "-c"]
    assert run["Cmd"] == ["/bin/bash", "-c", "echo $A"]
    assert run["Healthcheck"] == {"Test": ["CMD", "true"], "Retries": 3}
    assert texts[:5] == [
        "/bin/sh -c #(nop)  ARG V=1",
        "/bin/sh -c #(nop)  ENV A=9 B=two words",
        "/bin/sh -c #(nop)  LABEL l1=9 l2=x",
        "/bin/sh -c #(nop)  EXPOSE 53/udp 80/tcp",
        '/bin/sh -c #(nop)  VOLUME ["/a" "/b"]',
    ]
    assert texts[-2] == '/bin/sh -c #(nop)  CMD ["/bin/bash" "-c" "echo $A"]'


def test_entrypoint_clears_inherited_cmd_but_keeps_this_stages(executor):
    ex, df = executor('FROM scratch\nENTRYPOINT ["run"]\n')
    state, _ = configure_all(ex, df, {"Cmd": ["inherited"]})
    assert state.run["Entrypoint"] == ["run"] and state.run["Cmd"] is None
    ex, df = executor('FROM scratch\nCMD ["mine"]\nENTRYPOINT ["run"]\n')
    state, _ = configure_all(ex, df, {"Cmd": ["inherited"]})
    assert state.run["Cmd"] == ["mine"]
    ex, df = executor("FROM scratch\nENTRYPOINT []\n")
    state, _ = configure_all(ex, df, {"Entrypoint": ["old"]})
    assert state.run["Entrypoint"] is None


def test_env_sees_the_base_images_env(executor):
    ex, df = executor("FROM scratch\nENV PATH=/opt/bin:$PATH\n")
    state, _ = configure_all(ex, df, {"Env": ["PATH=/usr/bin:/bin"]})
    assert state.run["Env"] == ["PATH=/opt/bin:/usr/bin:/bin"]
