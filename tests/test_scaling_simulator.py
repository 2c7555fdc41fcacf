"""The HPA simulator: the documented algorithm on hand-computed cases, then the 60-second scenario."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest
import yaml

from leanvibe_constructs import HAApiDeployment
from leanvibe_constructs.autoscaling import SmartAutoscaler
from leanvibe_constructs.scaling_simulator import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    HpaModel,
    LoadTrace,
    ScalingPolicy,
    ScalingRules,
    Workload,
    _Autoscaler,
    load_hpa,
    main,
    replicas_for_metric,
    simulate,
    sync_offsets,
    without_behavior,
)

from .manifests import find, synth_chart

IMAGE = "ghcr.io/leanvibe/agent-hive-api:2.4.1"
STEP = LoadTrace.step(867.5, 15000, at=60, duration=600)


def synthesized_hpa(**props):
    objects = synth_chart(
        lambda chart: SmartAutoscaler(chart, "Scaling", target=HAApiDeployment(chart, "Api", image=IMAGE), **props)
    )
    return find(objects, "HorizontalPodAutoscaler")


PRODUCTION_HPA = synthesized_hpa(requests_per_second_metric="http_requests_per_second", capacity_reserve_pods=20)
CPU_ONLY_HPA = synthesized_hpa(capacity_reserve_pods=20)


def hpa(min_replicas=1, max_replicas=100, up=DEFAULT_SCALE_UP, down=DEFAULT_SCALE_DOWN):
    return HpaModel("test", min_replicas, max_replicas, (), up, down)


def unlimited(window=0):
    return ScalingRules(window, "Max", (ScalingPolicy("Pods", 1000, 15),))


# --- one metric: desired = ceil(current x value / target), with tolerance ---------


def test_within_tolerance_keeps_the_current_count():
    # 75 / 70 = 1.071: |1 - 1.071| <= 0.1
    assert replicas_for_metric(5, 5, 75, 70) == 5


def test_just_outside_tolerance_scales_by_the_ratio():
    # 78 / 70 = 1.114; ceil(5 x 1.114) = ceil(5.57) = 6
    assert replicas_for_metric(5, 5, 78, 70) == 6


def test_scale_down_by_the_ratio():
    # 35 / 70 = 0.5; ceil(10 x 0.5) = 5
    assert replicas_for_metric(10, 10, 35, 70) == 5


def test_starting_pods_count_as_zero_and_can_cancel_a_scale_up():
    # 5 pods at 200 %, 10 still starting: (5 x 200 + 10 x 0) / 15 / 70 = 0.952 < 1, the
    # direction reverses, so the HPA keeps 15: the reason CPU saturation slows a big step.
    assert replicas_for_metric(15, 5, 200, 70, unready=10) == 15


def test_starting_pods_count_as_zero_on_a_strong_scale_up():
    # 5 pods at 300, 5 starting: 300 x 5 / 10 / 70 = 2.143; ceil(2.143 x 10) = 22
    assert replicas_for_metric(10, 5, 300, 70, unready=5) == 22


def test_ready_pods_without_a_sample_count_as_the_target_on_a_scale_down():
    # 4 pods at 35, 1 ready but unsampled counted at 70: (140 + 70) / 5 / 70 = 0.6; ceil(0.6 x 5) = 3
    assert replicas_for_metric(5, 4, 35, 70, missing=1) == 3


def test_starting_pods_are_ignored_on_a_scale_down():
    # 4 pods at 35, 1 starting and set aside: 35 / 70 = 0.5; ceil(0.5 x 4) = 2
    assert replicas_for_metric(5, 4, 35, 70, unready=1) == 2


# --- behavior: stabilization windows and policies ----------------------------------


def test_hpa_without_behavior_uses_the_kubernetes_defaults():
    model = HpaModel.from_object(without_behavior(PRODUCTION_HPA))
    assert model.scale_up == ScalingRules(0, "Max", (ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 4, 15)))
    assert model.scale_down == ScalingRules(300, "Max", (ScalingPolicy("Percent", 100, 15),))


def test_synthesized_behavior_is_read_back():
    model = HpaModel.from_object(PRODUCTION_HPA)
    assert (model.min_replicas, model.max_replicas) == (5, 25)
    assert model.scale_up.policies == (ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 20, 15))
    assert [(m.kind, round(m.target, 2)) for m in model.metrics] == [("cpu", 70), ("requests", 433.09)]


def test_default_policies_add_the_larger_of_double_and_four_pods():
    assert _Autoscaler(hpa()).normalize(0, 5, 50) == 10  # max(5 x 2, 5 + 4)
    assert _Autoscaler(hpa()).normalize(0, 2, 50) == 6  # max(2 x 2, 2 + 4)


def test_select_policy_min_takes_the_smaller_step():
    rules = replace(DEFAULT_SCALE_UP, select_policy="Min")
    assert _Autoscaler(hpa(up=rules)).normalize(0, 5, 50) == 9  # min(10, 9)


def test_disabled_policy_never_scales_that_way():
    rules = replace(DEFAULT_SCALE_UP, select_policy="Disabled")
    assert _Autoscaler(hpa(up=rules)).normalize(0, 5, 50) == 5


def test_policy_counts_pods_added_earlier_in_its_period():
    rules = ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 60),))
    controller = _Autoscaler(hpa(up=rules))
    assert controller.normalize(0, 5, 50) == 9
    controller.record(0, 5, 9)
    assert controller.normalize(15, 9, 50) == 9  # the period started at 5: 5 + 4 = 9 already
    assert controller.normalize(61, 9, 50) == 13  # the event at t=0 left the 60 s period


def test_scale_up_stabilization_takes_the_lowest_recommendation_in_the_window():
    controller = _Autoscaler(hpa(up=unlimited(window=30)))
    assert controller.normalize(0, 5, 8) == 8
    assert controller.normalize(15, 8, 20) == 8  # min(8 at t=0, 20)
    assert controller.normalize(45, 8, 20) == 20  # only t=15 (20) and t=45 (20) are within 30 s


def test_scale_down_waits_out_the_window_then_removes_ten_percent_a_minute():
    down = ScalingRules(300, "Max", (ScalingPolicy("Percent", 10, 60),))
    controller = _Autoscaler(hpa(min_replicas=5, down=down))
    replicas = controller.normalize(0, 10, 10)
    for t in range(15, 300, 15):
        assert controller.normalize(t, replicas, 5) == 10  # max over the 300 s window still holds 10
    # At 300 s the recommendation from 0 s leaves the window (it must be *after* now - 300 s).
    assert controller.normalize(300, 10, 5) == 9  # int(10 x 0.9)
    controller.record(300, 10, 9)
    assert controller.normalize(315, 9, 5) == 9  # the period began at 10 and already lost one
    assert controller.normalize(360, 9, 5) == 8  # int(9 x 0.9)


def test_bounds_clamp_the_result():
    assert _Autoscaler(hpa(max_replicas=25, up=unlimited())).normalize(0, 5, 35) == 25
    assert _Autoscaler(hpa(min_replicas=5, down=unlimited())).normalize(0, 10, 2) == 5


# --- load traces -------------------------------------------------------------------


def test_step_ramp_and_points_traces():
    assert (STEP.rate(59), STEP.rate(60), STEP.rate(600)) == (867.5, 15000, 15000)
    ramp = LoadTrace.ramp(1000, 2000, at=10, seconds=100, duration=300)
    assert (ramp.rate(0), ramp.rate(60), ramp.rate(110), ramp.rate(300)) == (1000, 1500, 2000, 2000)
    assert LoadTrace.parse("points:0=100,30=100,30=400,90=400").rate(45) == 400
    assert LoadTrace.parse("step:867.5:15000:60:600") == STEP


def test_csv_trace_skips_a_header(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("time,rps\n0,500\n10,500\n20,1500\n")
    trace = LoadTrace.parse(str(path))
    assert (trace.rate(5), trace.rate(15), trace.duration) == (500, 1000, 20)


def test_bad_trace_is_refused_with_the_accepted_forms():
    with pytest.raises(ValueError, match="use step:BEFORE:AFTER"):
        LoadTrace.parse("spike:10")
    with pytest.raises(ValueError, match="never decrease"):
        LoadTrace.parse("points:10=1,5=2")


# --- whole simulations, each figure hand-computed ----------------------------------


def test_pods_serve_only_after_start_up_and_metrics_arrive_late():
    # Step at 60 s. The sync at 75 s is the first to see it (15 s lag): 5 -> 25.
    # Pods preempt reserve pods (2 s) and start (20 s): ready at 97 s, 37 s after the step.
    result = simulate(PRODUCTION_HPA, STEP, Workload(reserve_pods=20))
    assert result.time_to_capacity == 37
    assert result.overload_seconds == 37
    at = {s.time: s for s in result.samples}
    assert (at[75].spec_replicas, at[96].ready_replicas, at[97].ready_replicas) == (25, 5, 25)
    assert result.dropped_requests == pytest.approx(37 * (15000 - 5 * 618.7))


def test_without_metric_lag_the_first_sync_after_the_step_acts():
    result = simulate(PRODUCTION_HPA, STEP, Workload(reserve_pods=20, metric_lag_seconds=0))
    assert result.time_to_capacity == 22  # sync at 60, ready at 60 + 2 + 20


def test_pods_beyond_the_reserve_wait_for_a_new_node():
    # 10 pods take the reserve (ready at 97 s); 10 wait 120 s for nodes (ready at 75 + 120 + 20 = 215 s).
    result = simulate(PRODUCTION_HPA, STEP, Workload(reserve_pods=10))
    assert result.time_to_capacity == 215 - 60
    at = {s.time: s for s in result.samples}
    assert (at[97].ready_replicas, at[214].ready_replicas, at[215].ready_replicas) == (15, 15, 25)


def test_preempted_reserve_comes_back_after_node_provisioning():
    result = simulate(PRODUCTION_HPA, STEP, Workload(reserve_pods=20))
    at = {s.time: s for s in result.samples}
    assert (at[75].reserve_free, at[194].reserve_free, at[195].reserve_free) == (0, 0, 20)


def test_cpu_saturates_at_its_limit_and_under_reads_the_step():
    result = simulate(CPU_ONLY_HPA, STEP, Workload(reserve_pods=20))
    first = next(d for d in result.decisions if d.desired != d.current)
    # 15,000 / 5 = 3,000 req/s per pod would be 485 % CPU, but reads 200 % (the limit):
    # ceil(5 x 200 / 70) = 15, where the request rate asks ceil(5 x 3000 / 433.09) = 35.
    assert (first.time, first.proposals) == (75, {"cpu 70%": 15})
    rps = simulate(PRODUCTION_HPA, STEP, Workload(reserve_pods=20)).decisions
    assert next(d for d in rps if d.desired != d.current).proposals == {"cpu 70%": 15, "http_requests_per_second 433.09 req/s": 35}
    # 15 pods ready at 97 s; syncs at 90 and 105 still see 5 ready pods; at 120 s the
    # HPA sees 15 pods at 1,000 req/s (161.6 %) and goes to 25, ready at 142 s.
    assert result.time_to_capacity == 82


def test_scale_down_after_the_peak_is_slow_and_stops_at_the_floor():
    trace = LoadTrace(((0, 15000), (60, 15000), (60, 867.5), (1800, 867.5)))
    result = simulate(PRODUCTION_HPA, trace, Workload(initial_replicas=25))
    at = {s.time: s for s in result.samples}
    # Up to 60 s the HPA recommends 35 (600 req/s per pod against 433.09); from 75 s, with the
    # drop in view, 2. The 300 s window holds the count until the 60 s recommendation leaves
    # it at 360 s; then int(n x 0.9) a minute: 22, 19, 17, 15, 13, 11, 9, 8, 7, 6 and 5 at 960 s.
    assert (at[359].spec_replicas, at[360].spec_replicas, at[419].spec_replicas) == (25, 22, 22)
    assert (at[420].spec_replicas, at[959].spec_replicas, at[960].spec_replicas) == (19, 6, 5)
    assert result.samples[-1].spec_replicas == 5
    assert result.overload_seconds == 0


# --- the 60-second scenario --------------------------------------------------------


def test_production_hpa_with_reserve_reaches_capacity_within_60_seconds_at_any_sync_phase():
    workload = Workload(reserve_pods=20, startup_seconds=20, metric_lag_seconds=15)
    figures = [simulate(PRODUCTION_HPA, STEP, w).time_to_capacity for w in sync_offsets(workload)]
    baseline = simulate(without_behavior(PRODUCTION_HPA), STEP, Workload(startup_seconds=20, metric_lag_seconds=15))
    print(
        f"\nstep 867.5 -> 15,000 req/s, 20 s start-up, 15 s metric lag: production HPA + 20-pod reserve "
        f"{min(figures):g}-{max(figures):g} s over sync phases; Kubernetes default behaviour, no reserve: "
        f"{baseline.time_to_capacity:g} s ({baseline.summary()})"
    )
    assert max(figures) <= 60
    assert min(figures) == 37
    assert baseline.time_to_capacity > 60


# --- reading manifests and the command ---------------------------------------------


def test_load_hpa_from_a_manifest_file_or_folder(tmp_path):
    (tmp_path / "20-api.k8s.yaml").write_text(yaml.safe_dump_all([{"kind": "Service", "metadata": {"name": "x"}},
                                                                 PRODUCTION_HPA]))
    assert load_hpa(tmp_path / "20-api.k8s.yaml") == PRODUCTION_HPA
    assert load_hpa(tmp_path, "leanvibe-api") == PRODUCTION_HPA
    with pytest.raises(ValueError, match="expected one HorizontalPodAutoscaler named 'other'"):
        load_hpa(tmp_path, "other")


def test_command_prints_a_table_and_writes_a_csv(tmp_path, capsys):
    manifest = tmp_path / "hpa.yaml"
    manifest.write_text(yaml.safe_dump(PRODUCTION_HPA))
    out_csv = tmp_path / "run.csv"
    code = main([str(manifest), "--trace", "step:867.5:15000:60:300", "--reserve-pods", "20",
                 "--csv-path", str(out_csv)])
    output = capsys.readouterr().out
    assert code == 0
    assert "HPA leanvibe-api: 5-25 replicas on cpu 70%, http_requests_per_second 433.09 req/s" in output
    assert "time until capacity >= load: 37 s" in output
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 301
    assert rows[97]["ready_replicas"] == "25" and rows[96]["ready_replicas"] == "5"


def test_command_reports_bad_input_on_stderr(tmp_path, capsys):
    manifest = tmp_path / "hpa.yaml"
    manifest.write_text(yaml.safe_dump(PRODUCTION_HPA))
    assert main([str(manifest), "--trace", "nonsense"]) == 2
    assert "simulate-scaling: bad trace 'nonsense'" in capsys.readouterr().err


def test_leanvibe_cli_runs_simulate_scaling(tmp_path):
    from typer.testing import CliRunner

    from leanvibe_constructs.cli import app

    manifest = tmp_path / "hpa.yaml"
    manifest.write_text(yaml.safe_dump(PRODUCTION_HPA))
    runner = CliRunner()
    ok = runner.invoke(app, ["simulate-scaling", str(manifest), "--trace", "step:867.5:15000:60:200",
                             "--reserve-pods", "20", "--csv-path", str(tmp_path / "out.csv")])
    assert ok.exit_code == 0, ok.output
    assert "time until capacity >= load: 37 s" in ok.output
    assert (tmp_path / "out.csv").exists()
    bad = runner.invoke(app, ["simulate-scaling", str(manifest), "--trace", "nonsense"])
    assert bad.exit_code == 2
    assert "bad trace 'nonsense'" in bad.output
