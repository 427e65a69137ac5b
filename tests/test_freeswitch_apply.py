"""`pbxctl diff` / `apply` for FreeSWITCH, against the strict Event Socket double on a TCP
port with its mod_callcenter model (tests/esl_double/callcenter.py) reading a copy of an
operator's config directory (tests/fixtures/freeswitch_conf/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from esl_double.callcenter import Callcenter
from esl_double.server import InboundServer
from pbxctl.apply.callcenter_sync import parse_config
from pbxctl.apply.files import ApplyError
from pbxctl.apply.freeswitch_apply import apply_freeswitch, plan_freeswitch
from pbxctl.cli.app import app
from pbxctl.freeswitch.esl_client import EslClient, EslError
from pbxctl.render.freeswitch import AGENTS_PATH, DIALPLAN_PATH, QUEUES_PATH, TIERS_PATH, generate_freeswitch
from pbxctl.site.load import load_site

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_CONF = Path(__file__).resolve().parent / "fixtures" / "freeswitch_conf"
PASSWORD = "ClueCon"


@pytest.fixture
def conf(tmp_path) -> Path:
    target = tmp_path / "freeswitch"
    shutil.copytree(OPERATOR_CONF, target)
    return target


@pytest.fixture
def fs(conf):
    model = Callcenter(conf)
    assert model.api("reloadxml") == "+OK [Success]\n"
    # FreeSWITCH started with the operator's own queue loaded.
    assert model.api("callcenter_config queue load helpdesk@default") == "+OK\n"
    server = InboundServer(PASSWORD, model.api)
    yield model, server
    server.close()


def site_file(tmp_path: Path, conf: Path, port: int, edit=lambda text: text) -> Path:
    """conf/example-freeswitch.yaml pointed at the double and the copied config dir."""
    text = (ROOT / "conf" / "example-freeswitch.yaml").read_text(encoding="utf-8")
    text = text.replace("config_dir: /etc/freeswitch", f"config_dir: {conf}")
    text = text.replace("port: 8021, password: {env: PBXCTL_ESL_PASSWORD}", f"port: {port}, password: {PASSWORD}")
    path = tmp_path / "site" / "example-freeswitch.yaml"
    path.parent.mkdir(exist_ok=True)
    shutil.copy(ROOT / "conf" / "postcodes.csv", path.parent / "postcodes.csv")
    path.write_text(edit(text), encoding="utf-8")
    return path


def xml_files(conf: Path) -> dict[Path, str]:
    return {p: p.read_text() for p in conf.rglob("*.xml") if "pbxctl-backup" not in p.parts}


def apply(path: Path, port: int):
    loaded = load_site(path)
    with EslClient("127.0.0.1", port, PASSWORD) as esl:
        return apply_freeswitch(loaded, Path(loaded.site.pbx.freeswitch.config_dir), esl)


def expected(path: Path):
    files = generate_freeswitch(load_site(path))
    return parse_config(files[QUEUES_PATH], files[AGENTS_PATH], files[TIERS_PATH])


def assert_loaded(model: Callcenter, path: Path) -> None:
    want = expected(path)
    for name, params in want.queues.items():
        assert model.queues[name]["strategy"] == params["strategy"]
        assert model.queues[name]["max_wait_time"] == params["max-wait-time"]
    for name, attrs in want.agents.items():
        assert model.agents[name]["contact"] == attrs["contact"]
        assert model.agents[name]["wrap_up_time"] == attrs["wrap-up-time"]
    pbxctl_tiers = {k: (t["level"], t["position"]) for k, t in model.tiers.items() if k[0].endswith("@oslo")}
    assert pbxctl_tiers == want.tiers


def test_first_apply_then_no_change(tmp_path, conf, fs):
    model, server = fs
    path = site_file(tmp_path, conf, server.port)
    operator_before = (conf / "autoload_configs" / "callcenter.conf.xml").read_text()
    result = apply(path, server.port)
    assert result.reloaded and result.verified
    for rel in (QUEUES_PATH, AGENTS_PATH, TIERS_PATH, DIALPLAN_PATH):
        assert (conf / rel).is_file()
    cc = (conf / "autoload_configs" / "callcenter.conf.xml").read_text()
    for name in ("queues", "agents", "tiers"):
        line = f'<X-PRE-PROCESS cmd="include" data="pbxctl/callcenter-{name}.xml"/>'
        assert cc.count(line) == 1
        assert cc.index(line) < cc.index(f"</{name}>")
    assert cc != operator_before and "helpdesk@default" in cc  # the operator's own stays
    dialplan = (conf / "dialplan" / "default.xml").read_text()
    assert dialplan.count('<X-PRE-PROCESS cmd="include" data="pbxctl/pbxctl.xml"/>') == 1
    assert_loaded(model, path)
    # static agents Available, dynamic (lars) Logged Out; the operator's agent untouched
    assert model.agents["kari"]["status"] == "Available"
    assert model.agents["lars"]["status"] == "Logged Out"
    assert "9000@default" in model.agents and ("helpdesk@default", "9000@default") in model.tiers
    # escalating: level = priority, opened after p x step (no offset)
    assert model.tiers[("support@oslo", "erik")]["level"] == "2"
    assert model.queues["support@oslo"]["tier_rule_no_agent_no_wait"] == "false"

    sent = len(model.commands)
    again = apply(path, server.port)
    assert not again.changed and not again.commands
    assert all(c.endswith(" list") for c in model.commands[sent:])  # only the lists were read
    assert cc == (conf / "autoload_configs" / "callcenter.conf.xml").read_text()


def test_queue_reload_keeps_agent_statuses(tmp_path, conf, fs):
    model, server = fs
    path = site_file(tmp_path, conf, server.port)
    apply(path, server.port)
    model.api("callcenter_config agent set status kari 'On Break'")
    model.api("callcenter_config agent set status lars Available")
    model.api("callcenter_config agent set status 9000@default 'Logged Out'")  # the operator's own
    changed = site_file(tmp_path, conf, server.port, lambda t: t.replace("max_wait: 240", "max_wait: 300"))
    result = apply(changed, server.port)
    assert "queue reload sales_east@oslo" in result.commands
    # the reload set every agent back to its XML status; apply put them back
    assert "agent set status kari 'On Break'" in result.commands
    assert model.agents["kari"]["status"] == "On Break"
    assert model.agents["lars"]["status"] == "Available"
    assert model.agents["9000@default"]["status"] == "Logged Out"
    assert model.queues["sales_east@oslo"]["max_wait_time"] == "300"


def test_agent_only_change_does_not_reload_queues(tmp_path, conf, fs):
    model, server = fs
    apply(site_file(tmp_path, conf, server.port), server.port)
    model.api("callcenter_config agent set status kari 'On Break'")
    path = site_file(tmp_path, conf, server.port, lambda t: t.replace("{agent: erik, priority: 2}", "{agent: erik, priority: 1}"))
    result = apply(path, server.port)
    assert result.commands == ["tier set level support@oslo erik 1"]
    assert model.agents["kari"]["status"] == "On Break"


def test_removed_agents_and_members_are_unloaded(tmp_path, conf, fs):
    model, server = fs
    apply(site_file(tmp_path, conf, server.port), server.port)

    def drop_erik(text: str) -> str:
        text = text.replace('  erik:  {name: Erik Solberg,   extension: "1006", tags: [no, support]}\n', "")
        return text.replace("      - {agent: erik, priority: 2}\n", "").replace(
            "      - {agent: ola, priority: 0}\n      - {agent: kari, priority: 1}\n", "      - {agent: kari, priority: 1}\n"
        )

    path = site_file(tmp_path, conf, server.port, drop_erik)
    result = apply(path, server.port)
    assert "erik" not in model.agents and ("support@oslo", "erik") not in model.tiers
    assert ("sales_west@oslo", "ola") not in model.tiers and ("sales_east@oslo", "ola") in model.tiers
    assert "agent del erik" in result.commands and "tier del sales_west@oslo ola" in result.commands
    assert "9000@default" in model.agents  # never the operator's
    assert_loaded(model, path)


def test_broken_operator_file_is_named_and_nothing_written(tmp_path, conf, fs):
    model, server = fs
    default = conf / "dialplan" / "default.xml"
    default.write_text(default.read_text().replace("</extension>\n\n    <X-PRE", "\n\n    <X-PRE", 1))
    with pytest.raises(ApplyError, match=r"default\.xml:\d+: not well-formed XML"):
        apply(site_file(tmp_path, conf, server.port), server.port)
    assert not (conf / QUEUES_PATH).exists() and "support@oslo" not in model.queues


def test_reloadxml_error_restores_everything(tmp_path, conf, fs):
    model, server = fs
    # The operator's own included file is broken: pbxctl's files are fine, FreeSWITCH refuses the whole.
    (conf / "dialplan" / "default" / "01_broken.xml").write_text("<include><extension name='x'></condition></include>")
    before = xml_files(conf)
    with pytest.raises(ApplyError) as info:
        apply(site_file(tmp_path, conf, server.port), server.port)
    text = str(info.value)
    assert "reloadxml answered '+OK [[error near line" in text
    assert "the previous files are restored; FreeSWITCH kept its previous configuration" in text
    assert xml_files(conf) == before
    assert "support@oslo" not in model.queues and "kari" not in model.agents


def test_failure_mid_sync_puts_mod_callcenter_back(tmp_path, conf, fs):
    model, server = fs
    path = site_file(tmp_path, conf, server.port)
    apply(path, server.port)
    model.api("callcenter_config agent set status kari 'On Break'")
    snapshot = ({k: dict(v) for k, v in model.queues.items()}, dict(model.tiers), model.statuses())
    files = xml_files(conf)
    model.fail_on = "agent set status kari"  # putting kari's status back after the queue reload
    changed = site_file(
        tmp_path, conf, server.port,
        lambda t: t.replace("max_wait: 240", "max_wait: 300").replace("      - {agent: ingrid, priority: 1}\n", "      - {agent: ingrid, priority: 1}\n      - {agent: erik, priority: 1}\n", 1),
    )
    with pytest.raises(ApplyError, match="callcenter_config agent set status kari 'On Break': -ERR Unknown Error!"):
        apply(changed, server.port)
    assert xml_files(conf) == files
    assert model.queues["sales_east@oslo"]["max_wait_time"] == "240"
    assert dict(model.tiers) == snapshot[1]
    assert model.statuses() == snapshot[2]  # kari still On Break


def test_wrong_password_and_missing_module(tmp_path, conf, fs):
    model, server = fs
    with pytest.raises(EslError, match="refused the password"):
        EslClient("127.0.0.1", server.port, "wrong")
    model.loaded = False
    with pytest.raises(ApplyError, match="mod_callcenter is not loaded"):
        apply(site_file(tmp_path, conf, server.port), server.port)
    assert not (conf / QUEUES_PATH).exists()


def test_operator_queue_with_pbxctl_name_is_refused(tmp_path, conf):
    cc = conf / "autoload_configs" / "callcenter.conf.xml"
    cc.write_text(cc.read_text().replace("helpdesk@default", "support@oslo"))
    path = site_file(tmp_path, conf, 1)
    with pytest.raises(ApplyError, match=r"callcenter\.conf\.xml:8: queue 'support@oslo' is also one of pbxctl's"):
        plan_freeswitch(load_site(path), conf)


def test_cli_diff_and_apply(tmp_path, conf, fs):
    model, server = fs
    path = site_file(tmp_path, conf, server.port)
    runner = CliRunner()
    out = runner.invoke(app, ["diff", "-s", str(path)])
    assert out.exit_code == 0, out.output
    assert "+<X-PRE-PROCESS" not in out.output and '<X-PRE-PROCESS cmd="include" data="pbxctl/callcenter-queues.xml"/>' in out.output
    assert "5 file(s) would change" in out.output or "6 file(s) would change" in out.output
    out = runner.invoke(app, ["apply", "-s", str(path)])
    assert out.exit_code == 0, out.output
    assert "reloaded: reloadxml, mod_callcenter; verified: 3 queues, 6 agents" in out.output
    assert "callcenter_config queue load support@oslo" in out.output
    out = runner.invoke(app, ["apply", "-s", str(path)])
    assert out.exit_code == 0 and "no change" in out.output, out.output
    out = runner.invoke(app, ["diff", "-s", str(path)])
    assert "no change" in out.output
    wrong = site_file(tmp_path, conf, server.port, lambda t: t.replace(f"password: {PASSWORD}", "password: nope"))
    out = runner.invoke(app, ["apply", "-s", str(wrong)])
    assert out.exit_code != 0 and "refused the password" in out.output and "nothing was changed" in out.output


def test_include_lines_on_a_closing_tag_that_shares_its_line(tmp_path):
    from pbxctl.apply.freeswitch_apply import plan_xml_includes

    path = tmp_path / "callcenter.conf.xml"
    path.write_text('<configuration name="callcenter.conf">\n  <queues></queues>\n  <agents/>\n</configuration>\n')
    change = plan_xml_includes(path, [("pbxctl/callcenter-queues.xml", "</queues>")])
    assert change.new.splitlines()[1:5] == [
        "  <queues>",
        "    <!-- Added by pbxctl: its generated file, replaced by `pbxctl apply`. -->",
        '    <X-PRE-PROCESS cmd="include" data="pbxctl/callcenter-queues.xml"/>',
        "  </queues>",
    ]
    path.write_text(change.new)
    assert not plan_xml_includes(path, [("pbxctl/callcenter-queues.xml", "</queues>")]).changed  # once
    with pytest.raises(ApplyError, match=r"has no </agents> to put pbxctl's include line before"):
        plan_xml_includes(path, [("pbxctl/callcenter-agents.xml", "</agents>")])


def test_no_reload_only_writes(tmp_path, conf, fs):
    model, server = fs
    path = site_file(tmp_path, conf, server.port)
    out = CliRunner().invoke(app, ["apply", "-s", str(path), "--no-reload"])
    assert out.exit_code == 0, out.output
    assert "not reloaded (--no-reload)" in out.output and (conf / QUEUES_PATH).is_file()
    assert "support@oslo" not in model.queues and "reloadxml" not in model.commands[2:]
