"""The rules file: strict validation with errors that name the key, and reload."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from alerts import runbooks
from alerts.model import Policy
from analytics.config import RulesFile, default_text, parse
from citywatch.strict import RulesError


def test_the_packaged_rules_are_valid() -> None:
    rules = parse(default_text())
    assert rules.quality.stuck_run == 10
    assert rules.alerting.policy_for("cctv.fire").escalate_after_s == 120
    assert rules.alerting.policy_for("cctv.incident.smoke").escalate_after_s == 120  # prefix match
    own_default = parse(default_text(), Policy(reopen_window_s=5)).alerting
    assert own_default.policy_for("aq.stuck").reopen_window_s == 5  # no match: the default
    assert rules.shapes.enabled and rules.shapes.warmup_h == 168 and "pm25" in rules.shapes.pollutants
    assert rules.outage.enabled and rules.outage.min_devices == 3 and rules.outage.severity == "critical"
    assert rules.alerting.policy_for("zone.outage").escalate_after_s == 300
    fire = rules.alerting.policy_for("cctv.fire").runbook  # the packaged procedures, in both languages
    assert (
        fire is not None
        and any("119" in s for s in fire.read("ko"))
        and any("119" in s for s in fire.read("en"))
    )
    assert rules.alerting.policy_for("aq.stuck").runbook == runbooks.packaged()["aq"]  # its family's
    assert rules.alerting.policy_for("cctv.fire").remind_after_s == 1800
    assert rules.alerting.policy_for("aq.stuck").remind_after_s is None
    assert rules.alerting.policy_for("cctv.fire").escalate_again_after_s == (480,)  # the chain's level 2
    assert rules.alerting.policy_for("aq.stuck").escalate_again_after_s == ()


BAD = [
    ("unknown-section", "sensors: {}", "sensors"),
    ("unknown-key", "quality: {stuck_runn: 3}", "quality.stuck_runn"),
    ("wrong-type", "cctv: {quiet_s: soon}", "cctv.quiet_s"),
    ("negative", "parking: {stuck_s: -5}", "parking.stuck_s"),
    ("hysteresis", "quality: {drift_on: 1.0, drift_off: 2.0}", "quality.drift_off"),
    ("release", "parking: {almost_full: 0.8, release: 0.9}", "parking.release"),
    ("release-after", "parking: {release_after_s: -1}", "parking.release_after_s"),
    ("recurring-quiet", "cctv: {quiet_s: 900, recurring_quiet_s: 600}", "cctv.recurring_quiet_s"),
    ("recurring-one", "cctv: {recurring_n: 1}", "cctv.recurring_n"),
    (
        "device-recurring",
        "devices: {cam-1: {cctv: {recurring_quiet_s: 60}}}",
        "devices.cam-1.cctv.recurring_quiet_s",
    ),
    ("zone-section", "zones: {z1: {shapes: {}}}", "zones.z1"),
    ("zone-cctv-key", "zones: {z1: {cctv: {quiet: 3}}}", "zones.z1.cctv.quiet"),
    ("zone-key", "zones: {z1: {quality: {spike: 3}}}", "zones.z1.quality.spike"),
    ("policy-key", "policies: {aq.stuck: {auto_close: true}}", "policies.aq.stuck.auto_close"),
    ("shapes-pollutant", "shapes: {pollutants: [pm25, benzene]}", "shapes.pollutants"),
    ("shapes-warmup", "shapes: {warmup_h: 12}", "shapes.warmup_h"),
    ("shapes-vigilance", "shapes: {vigilance: 1.5}", "shapes.vigilance"),
    ("shapes-key", "shapes: {radius: 0.2}", "shapes.radius"),
    ("shapes-forget", "shapes: {forget_after_d: 0}", "shapes.forget_after_d"),
    ("outage-min-devices", "outage: {min_devices: 1}", "outage.min_devices"),
    ("outage-fraction", "outage: {min_fraction: 1.5}", "outage.min_fraction"),
    ("outage-severity", "outage: {severity: loud}", "outage.severity"),
    ("outage-spread", "outage: {spread_s: 0}", "outage.spread_s"),
    ("outage-hold", "outage: {hold_s: 1000}", "outage.hold_s"),
    ("runbook-type", "policies: {cctv.fire: {runbook: [call, 119]}}", "policies.cctv.fire.runbook.ko"),
    (
        "runbook-language",
        "policies: {cctv.fire: {runbook: {fr: [appeler]}}}",
        "policies.cctv.fire.runbook.fr",
    ),
    (
        "runbook-steps",
        "policies: {cctv.fire: {runbook: {ko: [a, b], en: [a]}}}",
        "policies.cctv.fire.runbook",
    ),
    ("runbook-empty", "policies: {cctv.fire: {runbook: []}}", "policies.cctv.fire.runbook"),
    ("policy-not-mapping", "policies: {cctv.fire: [escalate]}", "policies.cctv.fire"),
    ("device-key", "devices: {aq-1: {quality: {stuck_rum: 3}}}", "devices.aq-1.quality.stuck_rum"),
    ("device-hysteresis", "devices: {aq-1: {quality: {drift_off: 5}}}", "devices.aq-1.quality.drift_off"),
    ("device-section", "devices: {aq-1: {shapes: {}}}", "devices.aq-1"),
    ("device-empty", "devices: {aq-1: {}}", "devices.aq-1"),
    ("device-release", "devices: {pk-1: {parking: {release: 0.95}}}", "devices.pk-1.parking.release"),
    (
        "zone-release-after",
        "zones: {paldal: {parking: {release_after_s: -5}}}",
        "zones.paldal.parking.release_after_s",
    ),
    ("device-negative", "devices: {cam-1: {cctv: {quiet_s: -1}}}", "devices.cam-1.cctv.quiet_s"),
    (
        "chain-step",
        "policies: {cctv.fire: {escalate_again_after_s: [600, 0]}}",
        "policies.cctv.fire.escalate_again_after_s",
    ),
    (
        "chain-type",
        "policies: {cctv.fire: {escalate_again_after_s: soon}}",
        "policies.cctv.fire.escalate_again_after_s",
    ),
    (
        "chain-no-start",
        "policies: {x: {escalate_after_s: null, escalate_again_after_s: [60]}}",
        "policies.x.escalate_again_after_s",
    ),
    (
        "route-level",
        "notifications: {mqtt: {min_escalation_level: -1}}",
        "notifications.mqtt.min_escalation_level",
    ),
    ("event-type", "cctv: {events: {riot: {day: critical}}}", "cctv.events.riot"),
    ("event-level", "cctv: {events: {fire: {day: loud}}}", "cctv.events.fire.day"),
    ("event-key", "cctv: {events: {fire: {evening: info}}}", "cctv.events.fire.evening"),
    ("event-table", "cctv: {events: [fire]}", "cctv.events"),
    (
        "event-confidence",
        "cctv: {events: {fall: {above_confidence: {critical: 1.5}}}}",
        "cctv.events.fall.above_confidence.critical",
    ),
    (
        "event-count",
        "cctv: {events: {crowd: {above_count: {warning: 0}}}}",
        "cctv.events.crowd.above_count.warning",
    ),
    ("event-same-as-unknown", "cctv: {events: {smoke: {same_as: flames}}}", "cctv.events.smoke.same_as"),
    ("event-same-as-itself", "cctv: {events: {fire: {same_as: fire}}}", "cctv.events.fire.same_as"),
    (
        "event-same-as-chain",
        "cctv: {events: {fire: {same_as: fight}, smoke: {same_as: fire}}}",
        "cctv.events.smoke.same_as",
    ),
    ("event-area-level", "cctv: {events: {crowd: {areas: {park: off}}}}", "cctv.events.crowd.areas.park"),
    (
        "device-event",
        "devices: {cam-1: {cctv: {events: {fight: {night: maybe}}}}}",
        "devices.cam-1.cctv.events.fight.night",
    ),
    ("not-yaml", "quality: [unclosed", "(file)"),
    ("not-a-mapping", "- 1\n- 2", "(file)"),
]


@pytest.mark.parametrize(("text", "where"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_invalid_rules_name_the_key(text: str, where: str) -> None:
    with pytest.raises(RulesError) as e:
        parse(text)
    assert e.value.where == where
    assert where in str(e.value)


def test_zone_overrides_merge_with_the_defaults() -> None:
    rules = parse("quality: {spike_z: 9}\nzones: {industrial: {quality: {spike_min_jump: 30}}}")
    assert rules.quality_for("industrial").spike_min_jump == 30
    assert rules.quality_for("industrial").spike_z == 9
    assert rules.quality_for("elsewhere").spike_min_jump == 15


def test_reload_takes_valid_edits_and_refuses_invalid_ones(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("cctv: {quiet_s: 600}")
    f = RulesFile(path)
    assert f.reload_if_changed() is None
    path.write_text("cctv: {quiet_s: 60}")
    os.utime(path, (time.time() + 5, time.time() + 5))
    new = f.reload_if_changed()
    assert new is not None and new.cctv.quiet_s == 60
    path.write_text("cctv: {quiet_s: -1}")
    os.utime(path, (time.time() + 10, time.time() + 10))
    with pytest.raises(RulesError):
        f.reload_if_changed()
    assert f.rules.cctv.quiet_s == 60  # the rules in force stay


def test_an_invalid_file_at_start_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("parking: {flap_per_h: lots}")
    with pytest.raises(RulesError, match=r"parking\.flap_per_h"):
        RulesFile(path)
