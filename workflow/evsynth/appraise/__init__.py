"""appraise: the bias checklist per study (issue 7), judgements derived from recorded facts by explicit rules.

Tools by design (the mapping and every item wording live in ``resources/appraisal/tools.yaml``):

* case report  -> Murad et al. 2018 (8 questions) + JBI checklist for case reports (8 items)
* case series  -> Murad et al. 2018 + JBI checklist for case series (10 items)
* single-arm trial -> JBI case-series items + Murad's causality questions (Q4-Q7)
* randomized trial -> RoB 2 (5 domains, plus an overall row)
* non-randomized controlled study -> ROBINS-I (7 domains, plus an overall row)
* systematic review -> a single row, tool ``none``, judgement ``not applicable``

Every judgement carries a ``rationale`` and ``evidence``: the record rows it rests on, written as
``<file>:<line>[,<line>...]`` (a CSV row, header = line 1) or ``<study.yaml>:<line> (appraisal.<key>)``
(a fact). Items no fact can decide (``derivable: false``) come from the reviewer's
``resources/studies/<id>/appraisal.yaml``; without it they get the tool's missing judgement
("unclear" for Murad/JBI, "no information" for RoB 2/ROBINS-I), never a pass.

Derivation rules, one per ``rule`` name in tools.yaml (facts are ``study.yaml`` ``appraisal:`` keys):

murad_selection        selection consecutive|all_eligible -> yes; self_referred|selected -> no; else unclear
exposure_ascertained   appraisal.exposure investigators -> yes, patient_report -> no, unclear -> unclear;
                       otherwise (no fact, or external_records): every MSC administration row has a route
                       (not 'unspecified') and a dose_text -> yes; some lack them -> unclear; none -> unclear
outcome_ascertained    ascertainment validated_instrument_clinician -> yes; patient_report -> no; mixed|unclear
                       -> unclear; no fact: outcome measures all patient-reported (settings) -> no, none
                       patient-reported -> yes, both -> unclear, no outcomes -> unclear
alternative_causes     any co-intervention concurrent|stopped_during|added_after -> no; only stopped_before
                       rows -> yes; no co-intervention rows -> unclear (not reported)
rechallenge            a group with >= 2 MSC courses (a gap > course_gap_days starts a course) and outcomes
                       timed both between the first and second course and after the second -> yes; repeated
                       courses without such outcomes, or counts without timepoints -> unclear; one course -> no
dose_response          one dose level (same dose_text set in every group) -> no; several dose levels ->
                       unclear (whether response rises with dose is a reviewer judgement); no dose -> unclear
followup_long_enough   follow-up (evsynth.common.timepoints.followup: appraisal.followup, else the shortest
                       participants.followup, else the latest outcome timepoint; a range at config
                       followup.range_bound) >= min_followup_months -> yes; shorter -> no; unknown -> unclear
reporting_complete     demographics, condition, MSC route+dose, cell source, baseline and post-MSC outcomes,
                       adverse events and follow-up all recorded -> yes; any missing -> no (listed)
inclusion_criteria     appraisal.inclusion_criteria reported -> yes; not_reported -> no; else unclear
condition_standard /   appraisal.diagnosis standard_criteria -> yes; non_standard -> no;
condition_valid /      partly_stated|not_stated|missing -> unclear
diagnosis_described
consecutive_inclusion  selection consecutive|all_eligible -> yes; self_referred|selected -> no; else unclear
complete_inclusion     selection all_eligible -> yes; self_referred|selected -> no; else unclear
demographics_reported  age and sex recorded for every participant group -> yes; for some -> unclear; none -> no
clinical_info_reported condition + (disease duration or age at onset) for every group + baseline outcomes -> yes;
                       some of these -> unclear; none -> no
outcomes_reported      any outcome row at a post-MSC timepoint -> yes; else no
setting_reported       appraisal.setting reported -> yes; not_reported -> no; else unclear
statistics_appropriate appraisal.statistics descriptive -> not applicable; inferential|unclear|missing ->
                       unclear (appropriateness is the reviewer's call)
history_timeline       disease history (onset or duration) + prior therapy (stopped_before) + timed MSC
                       administrations: all -> yes; some -> unclear; none -> no
baseline_condition     any outcome row at baseline -> yes; else no
intervention_described MSC rows with route, dose_text and cell source -> yes; some missing -> unclear; none -> no
adverse_events_reported any adverse_events row (a reported absence counts) -> yes; else no
rob2_randomization     randomization central -> low; reported_unclear_method -> some concerns; none -> high;
                       else no information
rob2_deviations        blinding double_blind -> low (some concerns if co-interventions were given during or
                       after MSC); single_blind|open_label -> some concerns; else no information
missing_outcome_data   smallest share of participants with outcome data at the latest timepoint over groups:
                       >= missing_data_low -> low; >= missing_data_concerns -> some concerns/moderate;
                       below -> high/serious; not computable -> no information
rob2_measurement       blinding double_blind -> low; single_blind -> some concerns; open_label (or
                       not_applicable) with patient_report|mixed -> high, otherwise -> some concerns;
                       blinding unclear|missing -> no information
robins_confounding     appraisal.confounding adjusted -> moderate; not_adjusted -> serious; else no information
robins_selection       selection consecutive|all_eligible -> low; selected -> moderate; self_referred ->
                       serious; else no information
robins_classification  every MSC row with route and dose_text -> low; some -> moderate; none -> no information
robins_deviations      co-interventions concurrent|stopped_during|added_after -> serious; only stopped_before
                       -> low; none recorded -> no information
robins_measurement     blinding double_blind|single_blind -> low; open_label (or not_applicable) with
                       validated_instrument_clinician -> moderate, with patient_report|mixed -> serious;
                       else no information
not_appraised          systematic review, or design unspecified: not applicable

Modules: :mod:`~evsynth.appraise.tools` (tools.yaml), :mod:`~evsynth.appraise.context` (what a rule sees),
:mod:`~evsynth.appraise.case_rules` and :mod:`~evsynth.appraise.domain_rules` (the rules below),
:mod:`~evsynth.appraise.overrides` (reviewer judgements), :mod:`~evsynth.appraise.overall` (overall rows),
:mod:`~evsynth.appraise.checklist` (the corpus checklist), :mod:`~evsynth.appraise.writing` (CSV, Markdown),
:mod:`~evsynth.appraise.plots` (robvis plots), :mod:`~evsynth.appraise.run` (the workflow rule and the CLI).
Each checklist row's ``rule`` names the function that judged it.

Overall judgement per study and tool (``overall_judgements``; a reviewer's ``overall`` wins):

* RoB 2: any domain high -> high; all low -> low; otherwise some concerns (so "no information" is never low).
* ROBINS-I: any critical -> critical; else any serious -> serious; all low -> low; else any no information ->
  no information; else moderate. ``high_risk`` = serious or critical.
* Murad / JBI: overall_no_items_high or more items judged "no" -> high; otherwise the share of "yes" among
  items judged (items "not applicable" left out; "unclear" counts against): >= overall_yes_share_low with no
  item judged "no" -> low; >= overall_yes_share_concerns -> some concerns; below -> high (thresholds only in
  tools.yaml settings; our convention, not Murad's or JBI's). ``high_risk`` = high.
* none: not applicable, never high risk.
"""
