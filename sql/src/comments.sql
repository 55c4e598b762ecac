-- COMMENT ON every public function (issue 23): the catalog is the one table of functions that the SDK, the CLI
-- and their docs read. Each comment is
--   line 1: what it does, then who may call it;
--   one line per argument: "name: meaning (allowed values / default)" (a longer one goes on in lines indented by
--   two spaces);
--   a last line "Returns: ...".
-- Who: "Viewers" is any mediatag role but Query (viewer, editor, admin; every public function is granted to
-- mediatag_viewer). "Editors of <dataset>" is a mediatag_editor with write access to that dataset (one open to all,
-- or granted at level editor) and every admin. tests/test_function_comments.py checks that every public function
-- has a comment naming each of its arguments.
-- (mediatag.cancel_overdue_queries keeps its comment in access.sql.)

-- ---- util.sql -----------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.dataset_id(text) IS
'Looks up a dataset''s id; a dataset the caller may not read is reported as unknown. Viewers.
dataset: the dataset''s name (exact)
Returns: the dataset id; raises no_data_found ("unknown dataset") when there is none the caller can read.';

COMMENT ON FUNCTION mediatag.slug(text, integer) IS
'Turns a name into the slug used in generated table names: lower-case a-z, 0-9 and "_". Viewers.
name: the name to convert (NULL gives NULL)
max_len: the most characters kept (default 40)
Returns: the slug; "x" when nothing is left.';

-- ---- access.sql ---------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.grant_dataset_access(text, text, mediatag.access_level) IS
'Grants a role access to a dataset (or changes its level); then only its grantees and admins see it. Admins.
dataset: the dataset''s name
role: a role or login name, plain (not quoted); its members get the access
level: viewer (read) or editor (also write, for members of mediatag_editor) (default viewer)
Returns: nothing.';

COMMENT ON FUNCTION mediatag.revoke_dataset_access(text, text) IS
'Removes a role''s grant on a dataset; a dataset left with no grant is open to every mediatag role again. Admins.
dataset: the dataset''s name
role: the role or login name the grant was made to, plain (not quoted)
Returns: the number of grants removed (0 or 1).';

COMMENT ON FUNCTION mediatag.dataset_access(text) IS
'Lists the roles granted access to a dataset (none: it is open to every mediatag role). Viewers who can read it.
dataset: the dataset''s name
Returns: one row per grant: role, level (viewer | editor), granted_by, granted_at.';

COMMENT ON FUNCTION mediatag.set_service(text, text) IS
'Points the database at the embedding service (`mediatag serve` does it at start). Admins.
url: an http:// or https:// URL of a host, with an optional port and path (a trailing "/" is dropped)
token: the bearer token the service requires (default NULL: keep the stored token)
Returns: nothing.';

COMMENT ON FUNCTION mediatag.service_url() IS
'The URL of the embedding service the database calls (an admin sets it with set_service). Viewers.
Returns: the URL; http://127.0.0.1:8765 when none is set.';

-- ---- datasets.sql -------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.create_dataset(text, text, integer, text, integer, text) IS
'Creates a dataset bound to its models, with its views; an existing one with the same models is returned. Editors.
name: letters, digits, spaces, "_", "." or "-", starting with a letter or digit, at most 63 characters
  (an existing dataset of that name needs editor access to it)
visual_model: the visual model''s name (an existing dataset must have the same)
visual_dim: the dimension of the visual model''s vectors (1 to 4000)
text_model: the transcript model''s name (an existing dataset must have the same)
text_dim: the dimension of the transcript model''s vectors (1 to 4000)
description: free text (default ''''; an existing dataset keeps its own)
Returns: the dataset id.';

COMMENT ON FUNCTION mediatag.drop_dataset(text) IS
'Drops a dataset and all derived from it: assets, groups trained on it, its scores of other groups, views. Admins.
dataset: the dataset''s name
Returns: nothing.';

COMMENT ON FUNCTION mediatag.refresh_dataset_views(text) IS
'Rebuilds the views <dataset>_keyframes and _assets in mediatag_data and mediatag_bi (metadata keys as columns).
Editors of the dataset.
dataset: the dataset''s name
Returns: nothing.';

COMMENT ON FUNCTION mediatag.build_indexes(text) IS
'Builds the dataset''s missing HNSW indexes (keyframes, transcripts, filter indexes) in this transaction. Editors of it.
dataset: the dataset''s name
Returns: nothing.';

COMMENT ON FUNCTION mediatag.index_statements(text) IS
'Lists the statements that build the dataset''s missing or invalid HNSW indexes (the ingester runs them). Viewers.
dataset: the dataset''s name
Returns: one statement per row (DROP INDEX CONCURRENTLY of an invalid index, then CREATE INDEX CONCURRENTLY);
  run each outside a transaction block.';

COMMENT ON FUNCTION mediatag.after_ingest(text, bigint[], bigint) IS
'Finishes an ingest: views, sample, filter indexes and scoring queued for every pending asset. Editors of the dataset.
dataset: the dataset''s name
new_assets: ignored, kept for compatibility: every asset still pending is handled (default NULL)
ingest_run: the ingest run to mark as post-ingested (default NULL: none)
Returns: the number of tag groups whose scoring was queued.';

COMMENT ON FUNCTION mediatag.pending_post_ingest(text) IS
'Counts the dataset''s assets whose post-ingest step (after_ingest) has not run yet. Viewers.
dataset: the dataset''s name
Returns: the number of pending assets.';

COMMENT ON FUNCTION mediatag.dataset_summary(text) IS
'Counts images, videos, errors, shots, keyframes and transcript segments per dataset. Viewers (datasets they can read).
dataset: one dataset''s name (default NULL: every dataset the caller can read)
Returns: name, visual_model, text_model, images, videos, errors, shots, keyframes, transcript_segments.';

-- ---- filter_indexes.sql -------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.create_filter_index(text, jsonb) IS
'Creates a filter index: an HNSW graph of the keyframes whose asset metadata contains a filter. Editors of the dataset.
dataset: the dataset''s name
metadata: a non-empty JSON object, e.g. {"SeriesName": "..."}; search() walks it for filters that contain it
Returns: the filter index id (an existing one is returned as it is); built in this transaction.';

COMMENT ON FUNCTION mediatag.drop_filter_index(text, jsonb) IS
'Drops the filter index of a metadata filter. Editors of the dataset.
dataset: the dataset''s name
metadata: the JSON object the index was created with
Returns: true when one was dropped, false when there was none.';

COMMENT ON FUNCTION mediatag.filter_indexes(text) IS
'Lists the dataset''s filter indexes. Viewers.
dataset: the dataset''s name
Returns: filter_index_id, metadata, keyframes, index_valid, created_by, created_at.';

-- ---- jobs.sql -----------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.enqueue_job(text, jsonb) IS
'Queues a job by hand. Admins.
kind: the job kind: score_group or score_assets (run by run_jobs), llm_* (run by the service''s worker)
payload: the job''s arguments as JSON, e.g. {"group_id": 1, "dataset_id": 2} (default {})
Returns: the job id.';

COMMENT ON FUNCTION mediatag.job_heartbeat(text) IS
'Marks a worker''s running jobs as alive; only jobs claimed by a session of the caller''s own login. Editors.
worker_name: the worker name the jobs were claimed with (run_jobs'' worker_name)
Returns: the number of jobs marked.';

COMMENT ON FUNCTION mediatag.purge_jobs(interval) IS
'Deletes finished jobs (done, error, cancelled) older than the retention. Editors; admins for a retention of their own.
older_than: the retention (default NULL: setting mediatag.job_retention, 7 days; any other value needs an admin)
Returns: the number of jobs deleted.';

COMMENT ON PROCEDURE mediatag.run_jobs(integer, text, integer) IS
'Runs queued scoring jobs in this session, committing after each, until none is left or max_jobs ran. Editors.
max_jobs: the most jobs to run (default 1000)
worker_name: the worker name recorded on the jobs (default sql)
ran: output: the number of jobs run (the value passed in is ignored; default 0)
Returns: ran. CALL it outside a transaction block; it purges old jobs first; llm_* jobs are the service''s.';

-- ---- embed.sql, version.sql ---------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.embed_texts(text[], text) IS
'Embeds texts through the embedding service. Viewers.
texts: the texts (NULL: none)
model: a model the service has configured, e.g. a dataset''s visual_model or text_model
Returns: one vector per text, in order.';

COMMENT ON FUNCTION mediatag.embed_text(text, text) IS
'Embeds one text through the embedding service. Viewers.
text: the text
model: a model the service has configured, e.g. a dataset''s visual_model or text_model
Returns: its vector.';

COMMENT ON FUNCTION mediatag.embed_images(text[], text) IS
'Embeds image files that the embedding service reads (under its MEDIATAG_MEDIA_ROOTS). Viewers.
paths: image file paths on the service''s machine
model: a visual model the service has configured, e.g. a dataset''s visual_model
Returns: one vector per path, in order; the service''s size and rate limits raise SQLSTATE 54000.';

COMMENT ON FUNCTION mediatag.version() IS
'Versions of mediatag, pgvector, Postgres, Python, numpy, scipy and scikit-learn. Viewers.
Returns: JSON: mediatag, pgvector, postgres, python, numpy, scipy, sklearn, ml_package (its folder).';

-- ---- tags.sql -----------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.refresh_samples(text, integer) IS
'Redraws the dataset''s random sample of keyframes and transcript segments (calibration, previews). Editors of it.
dataset: the dataset''s name
size: how many of each to draw (default 10000)
Returns: the number of keyframes in the new sample.';

COMMENT ON FUNCTION mediatag.validate_tag_name(text, integer) IS
'Checks a tag name and normalises it (trimmed, runs of whitespace made one space). Viewers.
name: the tag name: letters, digits and spaces, at most 100 characters
line: a line number the error names (default NULL: none)
Returns: the clean name; raises invalid_parameter_value for an invalid one.';

COMMENT ON FUNCTION mediatag.create_tag_group(text, text, text[], mediatag.visibility) IS
'Creates a tag group on its training dataset, a tag per name, each trained from its name. Editors of the dataset.
dataset: the training dataset''s name (the only one that edits the group)
name: the group''s name: 1 to 100 printable characters, unique ignoring case
tags: the tag names: letters, digits and spaces (blank entries skipped; at least one)
visibility: secret (only readers of the training dataset see it) or shareable (once published: visible to all,
  applicable to other datasets) (default secret)
Returns: the group id.';

COMMENT ON FUNCTION mediatag.create_tag_group(text, text, text, mediatag.visibility) IS
'Creates a tag group from one keyword per line (the UI''s form), as the tags[] form does. Editors of the dataset.
dataset: the training dataset''s name (the only one that edits the group)
name: the group''s name: 1 to 100 printable characters, unique ignoring case
keywords: one tag name per line: letters, digits and spaces (blank lines skipped; at least one)
visibility: secret (only readers of the training dataset see it) or shareable (once published: visible to all,
  applicable to other datasets) (default secret)
Returns: the group id.';

COMMENT ON FUNCTION mediatag.add_tags(text, text[], text) IS
'Adds tags to a group and trains them from their names. Editors of the group''s training dataset.
tag_group: the group''s name (case-insensitive)
tags: the new tag names: letters, digits and spaces (blank entries skipped)
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: the number of tags added.';

COMMENT ON FUNCTION mediatag.rename_tag(text, text, text, text) IS
'Renames a tag; its keyword prompts follow the name, and it retrains. Editors of the group''s training dataset.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
new_name: letters, digits and spaces, unique in the group ignoring case
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: nothing.';

COMMENT ON FUNCTION mediatag.delete_tag(text, text, text) IS
'Deletes a tag with its prompts and labels; refused for a tag of a published version. Editors of the training dataset.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: nothing.';

COMMENT ON FUNCTION mediatag.add_prompt(text, text, text, mediatag.polarity, mediatag.modality, mediatag.prompt_origin, text) IS
'Adds a prompt to a tag (an identical one is kept as it is) and retrains the tag. Editors of the training dataset.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
prompt: the prompt text, 1 to 2000 characters (trimmed)
polarity: positive (pulls scores up) or negative (pushes them down) (default positive)
modality: visual, transcript or both (default both)
origin: user, llm or tag_name (default user)
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: nothing.';

COMMENT ON FUNCTION mediatag.remove_prompt(text, text, text, mediatag.polarity, mediatag.modality, text) IS
'Removes a prompt from a tag and retrains the tag; raises when no prompt matches. Editors of the training dataset.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
prompt: the prompt''s text (trimmed, then compared exactly)
polarity: positive or negative (default positive)
modality: visual, transcript or both (default both)
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: the number of prompts removed (one per modality).';

COMMENT ON FUNCTION mediatag.edit_prompt(text, text, text, text, mediatag.polarity, mediatag.modality, text) IS
'Changes a prompt''s text (its origin becomes user) and retrains the tag; raises when none matches. Editors of it.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
prompt: the prompt''s current text (trimmed, then compared exactly)
new_prompt: the new text, not empty (trimmed)
polarity: positive or negative (default positive)
modality: visual, transcript or both (default both)
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: the number of prompts changed (one per modality).';

COMMENT ON FUNCTION mediatag.set_threshold(text, text, real) IS
'Sets a tag''s threshold, live: threshold_decision follows at once. Editors of the group''s training dataset.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
threshold: 0 to 1; the training dataset''s and the default of datasets without one saved by save_threshold
Returns: nothing.';

COMMENT ON FUNCTION mediatag.label_keyframes(text, text, bigint[], boolean, mediatag.label_origin, text) IS
'Labels keyframes yes or no for a tag (a new label replaces the old) and retrains it. Editors of the training dataset.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
keyframes: keyframe ids of the group''s training dataset
label: true (yes) or false (no)
origin: preview, search, uncertain, evaluation or import (default preview)
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: the number of labels written.';

COMMENT ON FUNCTION mediatag.unlabel_keyframes(text, text, bigint[], text) IS
'Removes a tag''s labels from keyframes and retrains it. Editors of the group''s training dataset.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
keyframes: keyframe ids
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: the number of labels removed.';

COMMENT ON FUNCTION mediatag.list_tag_groups(text) IS
'Lists the tag groups the caller can see, with one dataset''s use of each. Viewers.
dataset: only the groups trained on, applied to or usable on (published shareable) this dataset, with its
  application columns (default NULL: every visible group; role, applied_version and status are then NULL)
Returns: name, training_dataset, visibility, state, published_version, unpublished_changes, tags, role,
  applied_version, status, update_available.';

COMMENT ON FUNCTION mediatag.group_overview(text) IS
'One row per tag of a group: threshold, prompts, labels, latest visual classifier, scored counts. Viewers.
tag_group: the group''s name (case-insensitive)
Returns: tag, position, threshold, visual_positive, visual_negative, transcript_positive, transcript_negative,
  labels_yes, labels_no, classifier_version, training_summary, keyframes_above_threshold and keyframes_scored
  (on the training dataset once it is scored, else NULL).';

-- ---- training.sql -------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.retrain(text, text, text) IS
'Trains new classifier versions of tags from their prompts and labels. Editors of the group''s training dataset.
tag_group: the group''s name (case-insensitive)
tag: one tag''s name (default NULL: every tag of the group)
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: the number of tags trained.';

COMMENT ON FUNCTION mediatag.fit_model_calibration(text, boolean, integer) IS
'Fits the calibration of prompt-only tags for a visual model on a fully labeled group. Admins; viewers if save => false.
tag_group: a group on generic photos whose tags have yes and no labels on the photos (case-insensitive)
save: store it for the training dataset''s visual model (default true: needs an admin)
min_positives: tags with fewer yes labels are left out (default 3)
Returns: one row: model, temperature, bias, tail, tags (used), pairs (tag and photo pairs fitted on).';

COMMENT ON FUNCTION mediatag.reset_model_calibration(text) IS
'Forgets a model''s stored calibration: the one shipped with the extension (or the unlabeled fit) applies. Admins.
model: the visual model''s name
Returns: true when a stored calibration was deleted.';

-- ---- preview.sql --------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.sigmoid(double precision) IS
'The logistic function every score uses: 1 / (1 + exp(-z)), with z clamped to [-60, 60]. Viewers.
z: the log-odds (x·w + b)
Returns: the score, 0 to 1.';

COMMENT ON FUNCTION mediatag.preview(text, text, mediatag.preview_kind, mediatag.preview_level, real, integer, integer) IS
'Random keyframes of the training dataset either side of a threshold, by a tag''s draft classifier. Viewers.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
kind: compare (both sides), positives or negatives (default compare)
level: keyframe or shot (a shot shows as its best keyframe) (default keyframe)
threshold: 0 to 1 (default NULL: the tag''s threshold)
n: the most rows per side (default 24)
seed: makes the pick repeatable (default NULL: a new pick every call)
Returns: side (positive | negative), keyframe_id, asset_id, video_id, shot_id, keyframe_index, keyframe_time_ms,
  path, score, decision, shot_start_ms, shot_end_ms (the keyframe''s shot''s time range; NULL for images); from the
  dataset''s random sample plus, unless negatives, the HNSW neighbourhood.';

COMMENT ON FUNCTION mediatag.preview_transcripts(text, text, mediatag.transcript_preview_kind, real, integer, mediatag.transcript_sort) IS
'Transcript segments of the training dataset scored by a tag''s draft transcript classifier. Viewers.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
kind: positives, negatives or all (default positives)
threshold: the score that decides (default NULL: the tag''s threshold)
n: the most rows (default 50)
sort: score (highest first), score_asc or time (by asset, then start) (default score)
Returns: segment_id, asset_id, start_ms, end_ms, text, score, decision, source (subtitle, embedded:<codec>:<lang> or
  asr:<engine>); no rows for a tag without transcript prompts.';

COMMENT ON FUNCTION mediatag.search_keyframes(text, text, integer) IS
'Text search over a dataset''s keyframes (the query embedded with its visual model), to find some to label. Viewers.
dataset: the dataset''s name
query: the text to find (not empty)
k: the number of results (default 50)
Returns: keyframe_id, asset_id, keyframe_time_ms, path, similarity (inner product), most similar first.';

COMMENT ON FUNCTION mediatag.search_for_labeling(text, text, integer) IS
'search_keyframes over a group''s training dataset, with the keyframes'' labels in the group. Viewers.
tag_group: the group''s name (case-insensitive)
query: the text to find (not empty)
k: the number of results (default 50)
Returns: keyframe_id, asset_id, keyframe_time_ms, path, similarity, current_label (a label the keyframe has for a
  tag of the group; NULL: none).';

COMMENT ON FUNCTION mediatag.uncertain_keyframes(text, text, integer) IS
'The unlabeled keyframes a tag''s draft classifier is least sure of, spread out: what to label next. Viewers.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
k: how many (default 20)
Returns: keyframe_id, asset_id, keyframe_time_ms, path, score.';

-- ---- publish.sql --------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.publish_tag_group(text, mediatag.visibility, text, text) IS
'Publishes a group''s draft as a new version and queues the scoring of its training dataset; a published group with no
edits since whose visibility alone changes keeps its version (see set_group_visibility). Editors of that dataset.
tag_group: the group''s name (case-insensitive)
visibility: secret or shareable (default NULL: unchanged); a group applied to other datasets cannot become secret
note: a note kept with the version (default '''')
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: the new version number (the current one when only the visibility changed).';

COMMENT ON FUNCTION mediatag.unreviewed_tags(text) IS
'The tags of a group nobody has reviewed: no label, no evaluation and no prompt but the tag''s name. Viewers.
tag_group: the group''s name (case-insensitive)
Returns: tag, in the group''s order.';

COMMENT ON FUNCTION mediatag.job_workers() IS
'The number of job workers connected to this database (mediatag serve, or a session in CALL mediatag.run_jobs()); with none, queued scoring waits. Viewers.
Returns: the number of workers.';

COMMENT ON FUNCTION mediatag.set_group_visibility(text, mediatag.visibility) IS
'Makes a group secret or shareable without publishing a new version, so nothing is scored again. Editors of its training dataset.
tag_group: the group''s name (case-insensitive)
visibility: secret or shareable; a group applied to other datasets cannot become secret
Returns: true when the visibility changed, false when it already was that.';

COMMENT ON FUNCTION mediatag.apply_tag_group(text, text, integer) IS
'Applies a published version of a group to a dataset and queues its scoring. Editors of the dataset.
tag_group: the group''s name (case-insensitive); another dataset than its training one needs a shareable group
dataset: the dataset to score; it must use the training dataset''s models
version: a published version (default NULL: the latest)
Returns: the id of the queued scoring job.';

COMMENT ON FUNCTION mediatag.update_tag_group(text, text) IS
'Moves a dataset to the latest published version of a group (apply_tag_group with version NULL). Editors of the dataset.
tag_group: the group''s name (case-insensitive)
dataset: the dataset''s name
Returns: the id of the queued scoring job.';

COMMENT ON FUNCTION mediatag.unapply_tag_group(text, text) IS
'Removes a group from a dataset it was applied to, with that dataset''s scores of it. Editors of the dataset.
tag_group: the group''s name (case-insensitive)
dataset: the dataset''s name; not the training dataset (drop the group instead)
Returns: nothing.';

COMMENT ON FUNCTION mediatag.tag_group_status(text) IS
'Where a group is used and how its scoring stands on each dataset. Viewers.
tag_group: the group''s name (case-insensitive)
Returns: dataset, role (training | applied), applied_version, scored_version, latest_version, update_available,
  status (queued | unscored | scored | error), error, scored_at, score_seconds.';

COMMENT ON FUNCTION mediatag.drop_tag_group(text, text) IS
'Drops a group with its tags, versions, score tables, views and queued scoring jobs. Editors of its training dataset.
tag_group: the group''s name (case-insensitive)
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: nothing.';

-- ---- scoring.sql --------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.score_tag_group(text, text) IS
'Scores a group''s applied version on a dataset now, in this session (what a queued job does). Editors of the dataset.
tag_group: the group''s name (case-insensitive)
dataset: a dataset the group has a published version applied to (default NULL: the training dataset)
Returns: the job''s summary as JSON: group, dataset_id, version, tags, keyframes, shots, assets,
  transcript_segments, hits, seconds, step_seconds.';

-- ---- evaluation.sql -----------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.start_evaluation(text, text, text, integer, integer, mediatag.preview_level) IS
'Starts an evaluation of a tag: a sample stratified by 0.1-wide score buckets, to judge. Editors of the dataset.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
dataset: the training dataset or one the group is scored on (default NULL: the training dataset)
size: the number of items, 10 to 5000 (default 400)
seed: makes the draw repeatable (default 0)
level: keyframe (items are keyframes, dt_<group>_visual) or shot (items are video shots, each judged as its best
  keyframe; its threshold is dt_<group>_shot''s) (default keyframe)
Returns: the evaluation id; it evaluates the classifier of the scored version (before any scoring, the draft).';

COMMENT ON FUNCTION mediatag.evaluation_items(bigint, boolean) IS
'The items of an evaluation, with score, bucket and ground truth. Viewers who can read its dataset.
evaluation_id: the evaluation''s id
include_removed: also the items removed as judged wrong (default false)
Returns: keyframe_id (a shot-level item: the shot''s best keyframe), shot_id, path, keyframe_time_ms, score, bucket
  (0 to 9), truth, truth_source (person | llm), removed, asset_id, shot_start_ms, shot_end_ms.';

COMMENT ON FUNCTION mediatag.set_ground_truth(bigint, bigint[], boolean, mediatag.ground_truth_source) IS
'Records ground truth for items of an evaluation. Editors of the evaluation''s dataset.
evaluation_id: the evaluation''s id
keyframes: keyframe ids of items of the evaluation
truth: true (the keyframe shows the tag) or false
source: person or llm (default person)
Returns: the number of items updated.';

COMMENT ON FUNCTION mediatag.remove_evaluation_items(bigint, bigint[], boolean) IS
'Marks evaluation items as judged wrong: kept for the record, left out of the metrics. Editors of its dataset.
evaluation_id: the evaluation''s id
keyframes: keyframe ids of items of the evaluation
removed: true removes them, false puts them back (default true)
Returns: the number of items changed.';

COMMENT ON FUNCTION mediatag.evaluation_weights(bigint) IS
'The judged, kept items of an evaluation with their Horvitz-Thompson weights. Viewers who can read its dataset.
evaluation_id: the evaluation''s id
Returns: keyframe_id, score, bucket, truth, weight (keyframes of the bucket / judged items of it; NULL for
  evaluations drawn before bucket populations were stored).';

COMMENT ON FUNCTION mediatag.evaluation_metrics(bigint, boolean) IS
'Precision, recall, F1, F0.5 and accuracy of an evaluation at thresholds 0.00 to 1.00. Viewers who can read its dataset.
evaluation_id: the evaluation''s id
weighted: estimates for the whole dataset from the bucket weights (default true); false: the judged sample''s own
Returns: threshold, precision, recall, f1, f05, accuracy, tp, fp, fn, tn (sample counts), est_tp, est_fp, est_fn,
  est_tn (estimated keyframes); raises when nothing is judged yet.';

COMMENT ON FUNCTION mediatag.suggest_threshold(bigint, mediatag.metric, boolean) IS
'The threshold that maximises a metric on an evaluation''s judged items. Viewers who can read its dataset.
evaluation_id: the evaluation''s id
metric: f1, f05, precision, recall or accuracy (default f1)
weighted: estimates for the whole dataset from the bucket weights (default true); false: the judged sample''s own
Returns: threshold, value, metric, judged (items).';

COMMENT ON FUNCTION mediatag.save_threshold(bigint, mediatag.metric, real) IS
'Saves a threshold for an evaluation''s tag on its dataset; threshold_decision follows at once. Editors of the dataset.
evaluation_id: the evaluation''s id
metric: without a threshold, the metric whose best threshold is saved: f1, f05, precision, recall or accuracy
  (default f1)
threshold: a threshold of your own, 0 to 1, recorded as manual (default NULL: the suggested one)
Returns: the threshold saved: the tag''s own on its training dataset, that dataset''s on another; a shot-level
  evaluation''s saves the shots'' threshold on its dataset (threshold_decision of dt_<group>_shot) and nothing else.';

COMMENT ON FUNCTION mediatag.labels_from_evaluation(bigint) IS
'Turns an evaluation''s ground truth into visual labels of its tag (origin evaluation) and retrains. Editors of it.
evaluation: the evaluation''s id; it must be on the group''s training dataset
Returns: the number of labels written (removed and unjudged items are skipped).';

COMMENT ON FUNCTION mediatag.stratified_preview(text, text, text, integer, integer) IS
'Keyframes from each 0.1-wide score bucket of a tag on a scored dataset. Viewers.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
dataset: a dataset the group is scored on (default NULL: the training dataset)
per_bucket: keyframes per bucket (default 10)
seed: makes the pick repeatable (default 0)
Returns: bucket_low, bucket_high, keyframe_id, asset_id, video_id, keyframe_time_ms, path, score,
  threshold_decision.';

-- ---- search.sql ---------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.search(text, text, bigint, integer, text[], text[], jsonb, boolean, integer, vector,
                                    real) IS
'Finds a dataset''s keyframes nearest a text, a keyframe or a vector, with filters and pages. Viewers.
dataset: the dataset''s name
query: a text, at most 1000 characters; give exactly one of query, keyframe and embedding (default NULL)
keyframe: a keyframe id of the dataset: more like it, itself left out (default NULL)
k: results per page, 1 to 1000 (default 50)
concepts: concept names of this dataset: keeps keyframes each one decides yes for (default NULL)
tags: ''group:tag'' names: keeps keyframes at or above each tag''s threshold (default NULL)
metadata: a JSON object the asset''s metadata must contain, e.g. {"SeriesName": "..."} (default NULL)
group_by_video: one row per video or image, its best keyframe, with matches (default false)
offset: rows to skip, 0 to 10000 (default 0)
embedding: a vector of the dataset''s visual dimension, e.g. an image the caller embedded (default NULL)
recall: the recall target, above 0 and at most 1, that sets the HNSW search''s breadth (default 0.97)
Returns: keyframe_id, asset_id, video_id, shot_id, keyframe_time_ms, path, asset_path, score (inner product), rank,
  matches.';

COMMENT ON FUNCTION mediatag.search_transcripts(text, text, integer, mediatag.search_mode, integer, integer, jsonb, boolean, integer) IS
'Searches a dataset''s transcript segments, by meaning or by keywords. Viewers.
dataset: the dataset''s name
query: the text, at most 1000 characters (keyword mode: websearch syntax: "quoted phrases", OR, -word)
k: results per page, 1 to 1000 (default 50)
mode: semantic (the transcript model''s embedding) or keyword (Postgres full text) (default semantic)
from_ms: keeps segments ending at or after this time of their video (default NULL)
to_ms: keeps segments starting at or before this time of their video (default NULL)
metadata: a JSON object the asset''s metadata must contain (default NULL)
group_by_video: one row per video, its best segment, with matches (default false)
offset: rows to skip, 0 to 10000 (default 0)
Returns: segment_id, asset_id, video_id, start_ms, end_ms, text, score (cosine, or ts_rank_cd), rank, matches.';

-- ---- concepts.sql -------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.create_concept(text, text, text, boolean) IS
'Creates a concept on a dataset and trains its first version. Editors of the dataset.
dataset: the dataset''s name
name: 1 to 100 printable characters, unique across all datasets ignoring case
description: what it shows, in words: embedded and used in training (default '''')
auto_apply: scores follow every retrain (default true); false: they stay on the version apply_concept pins
Returns: the concept id.';

COMMENT ON FUNCTION mediatag.set_concept_description(text, text) IS
'Changes a concept''s description and retrains it. Editors of its dataset.
concept: the concept''s name (case-insensitive)
description: the new description (NULL: none)
Returns: the new classifier version.';

COMMENT ON FUNCTION mediatag.set_concept_threshold(text, real) IS
'Sets the score at or above which a concept decides yes. Editors of its dataset.
concept: the concept''s name (case-insensitive)
threshold: 0 to 1
Returns: nothing.';

COMMENT ON FUNCTION mediatag.apply_concept(text, integer) IS
'Pins the classifier version a concept''s scores use, or lets them follow every retrain again. Editors of its dataset.
concept: the concept''s name (case-insensitive)
version: the version to pin (auto_apply off) (default NULL: follow the latest, auto_apply on)
Returns: the version now in use.';

COMMENT ON FUNCTION mediatag.drop_concept(text) IS
'Drops a concept with its labels, examples and versions. Editors of its dataset.
concept: the concept''s name (case-insensitive)
Returns: nothing.';

COMMENT ON FUNCTION mediatag.list_concepts(text) IS
'Lists concepts with their label counts and versions. Viewers.
dataset: only this dataset''s concepts (default NULL: all)
Returns: name, dataset, description, labels_yes, labels_no, labels_skip, examples, version (the latest),
  applied_version (the one in use), auto_apply, threshold, training_summary, created_by, created_at.';

COMMENT ON FUNCTION mediatag.concept_versions(text) IS
'Lists a concept''s classifier versions. Viewers who can read its dataset.
concept: the concept''s name (case-insensitive)
Returns: version, in_use, labels_yes, labels_no, examples, kind, summary, trained_by, created_at.';

COMMENT ON FUNCTION mediatag.retrain_concept(text) IS
'Trains a new version of a concept from its labels, examples and description. Editors of its dataset.
concept: the concept''s name (case-insensitive)
Returns: the new classifier version.';

COMMENT ON FUNCTION mediatag.label_concept(text, bigint[], mediatag.concept_label_value, mediatag.concept_label_origin, boolean) IS
'Labels keyframes yes, no or skip for a concept (a new label replaces the old); retrains it. Editors of its dataset.
concept: the concept''s name (case-insensitive)
keyframes: keyframe ids of the concept''s dataset (at least one)
label: yes, no or skip (not shown again, not trained on); y / n, true / false and 1 / 0 also do (default yes)
origin: manual, search, continue, import or top (default manual)
retrain: train a new version now (default true)
Returns: the new classifier version; NULL when retrain is false.';

COMMENT ON FUNCTION mediatag.unlabel_concept(text, bigint[]) IS
'Removes a concept''s labels from keyframes and retrains it. Editors of its dataset.
concept: the concept''s name (case-insensitive)
keyframes: keyframe ids
Returns: the new classifier version.';

COMMENT ON FUNCTION mediatag.concept_labels(text) IS
'Lists a concept''s labels, oldest first. Viewers who can read its dataset.
concept: the concept''s name (case-insensitive)
Returns: keyframe_id, asset_id, path, label (yes | no | skip), origin, labeled_by, labeled_at.';

COMMENT ON FUNCTION mediatag.import_concept_labels(text, text[], text[]) IS
'Imports existing labels of a concept, all or none, then retrains it. Editors of its dataset.
concept: the concept''s name (case-insensitive)
items: asset ids, keyframe:<id>, asset paths or file names of the concept''s dataset (an asset: all its keyframes);
  each must match exactly one asset
labels: one per item: yes, no or skip (y / n, true / false and 1 / 0 also do)
Returns: one row per item: item, label, keyframes (how many it labeled).';

COMMENT ON FUNCTION mediatag.import_concept_labels_csv(text, text) IS
'Imports labels of a concept from CSV text, as import_concept_labels does. Editors of its dataset.
concept: the concept''s name (case-insensitive)
csv_text: the CSV, at most 16 MiB: a header with an item column (keyframe_id, asset_id, path, file, filename,
  file_name or image) and a label column (label, answer or value), or no header: item, then label
Returns: one row per item: item, label, keyframes (how many it labeled).';

COMMENT ON FUNCTION mediatag.add_concept_examples(text, text[]) IS
'Adds example images, embedded by the embedding service, as positives of a concept; retrains it. Editors of its dataset.
concept: the concept''s name (case-insensitive)
paths: image file paths the service can read (under its MEDIATAG_MEDIA_ROOTS), at least one
Returns: the new classifier version.';

COMMENT ON FUNCTION mediatag.add_concept_example_vectors(text, vector[], text[]) IS
'Adds example vectors (images the caller embedded) as positives of a concept; retrains it. Editors of its dataset.
concept: the concept''s name (case-insensitive)
vectors: vectors of the dataset''s visual dimension, at least one
sources: a name for each vector, e.g. its file''s (default NULL: "vector <n>")
Returns: the new classifier version.';

COMMENT ON FUNCTION mediatag.concept_scores(text, integer) IS
'Scores every keyframe of a concept''s dataset, now. Viewers who can read the dataset.
concept: the concept''s name (case-insensitive)
version: a classifier version (default NULL: the one in use)
Returns: keyframe_id, score, decision (score at or above the concept''s threshold).';

COMMENT ON FUNCTION mediatag.score_embedding(text, vector) IS
'Scores one vector with a concept''s version in use. Viewers who can read its dataset.
concept: the concept''s name (case-insensitive)
embedding: a vector of the dataset''s visual dimension
Returns: score, decision, version.';

COMMENT ON FUNCTION mediatag.score_images(text, text[]) IS
'Scores image files, embedded by the embedding service, with a concept''s version in use. Viewers.
concept: the concept''s name (case-insensitive)
paths: image file paths the service can read (under its MEDIATAG_MEDIA_ROOTS)
Returns: path, score, decision, version.';

COMMENT ON FUNCTION mediatag.concept_top(text, integer) IS
'The best-scoring keyframes of a concept (the UI''s hover card). Viewers who can read its dataset.
concept: the concept''s name (case-insensitive)
n: how many, 1 to 1000 (default 3)
Returns: keyframe_id, asset_id, video_id, keyframe_time_ms, path, score, decision.';

COMMENT ON FUNCTION mediatag.continue_labeling(text, integer, integer) IS
'The next unlabeled keyframes worth labeling for a concept: uncertain, spread out, some to explore; while it has
no yes label, its best-scoring ones first. Viewers.
concept: the concept''s name (case-insensitive)
n: how many, 1 to 200 (default 12)
seed: varies the exploration pick (default NULL, as 0); a batch also changes after each retrain
Returns: keyframe_id, asset_id, video_id, keyframe_time_ms, path, score, reason (why it was picked: uncertain,
  explore or likely positive).';

COMMENT ON FUNCTION mediatag.search_for_concept(text, text, integer) IS
'Text search over a concept''s dataset, with each keyframe''s current label for the concept. Viewers.
concept: the concept''s name (case-insensitive)
query: the text to find, at most 1000 characters
k: the number of results, 1 to 1000 (default 50)
Returns: keyframe_id, asset_id, video_id, keyframe_time_ms, path, score, current_label (yes | no | skip | NULL).';

-- ---- llm.sql ------------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.suggest_prompts(text, text, integer) IS
'Asks the service for prompt suggestions for a tag (an LLM, or WordNet without one); kept until added. Editors.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
per_list: suggestions per polarity and modality, 1 to 20 (default 5)
Returns: polarity, modality, prompt, source (wordnet | llm:<model>) of every suggestion not added yet; visual ones in
  order of usefulness measured on the training dataset (their nearest keyframes scored by the tag), negatives that
  find mostly the tag itself dropped.';

COMMENT ON FUNCTION mediatag.add_suggested_prompts(text, text, text) IS
'Adds a tag''s suggestions as prompts (origin llm), asking for some first if none; retrains. Editors of its dataset.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
dataset: a check: the dataset the caller edits from, which must be the training dataset (default NULL: none)
Returns: the number of prompts added.';

COMMENT ON FUNCTION mediatag.request_ground_truth(bigint) IS
'Asks a vision model for an evaluation''s ground truth: queues a job for the service''s worker. Editors of its dataset.
evaluation: the evaluation''s id; items a person judged are never asked about or overwritten
Returns: the job id (the queued or running one, when there is one).';

COMMENT ON FUNCTION mediatag.evaluation_progress(bigint) IS
'How far a vision model''s ground truth for an evaluation has got. Viewers who can read its dataset.
evaluation_id: the evaluation''s id
Returns: one row: asked, answered, failed, remaining, model, tokens, cost_usd, job_state, line (all of it in words).';

-- ---- ui.sql -------------------------------------------------------------------------------------------------

COMMENT ON FUNCTION mediatag.list_assets(text, integer, integer) IS
'Pages through a dataset''s assets, in id order, with their keyframe and shot counts. Viewers.
dataset: the dataset''s name
lim: rows per page, 1 to 1000 (default 60)
off: rows to skip, 0 or more (default 0)
Returns: asset_id, kind, path, duration_ms, width, height, status, error, metadata, keyframes, shots,
  first_keyframe_id, total (assets in the dataset).';

COMMENT ON FUNCTION mediatag.asset_detail(bigint) IS
'One asset with its shots, keyframes and transcript, for the UI''s timeline. Viewers who can read its dataset.
asset: the asset id
Returns: JSON: asset_id, dataset, kind, path, duration_ms, width, height, status, error, metadata, tech, shots,
  keyframes, transcript.';

COMMENT ON FUNCTION mediatag.keyframe_image(bigint) IS
'The image file of a keyframe (the UI''s thumbnails). Viewers who can read its dataset.
keyframe: the keyframe id
Returns: the image''s path; raises no_data_found ("unknown keyframe") otherwise.';

COMMENT ON FUNCTION mediatag.job_progress(text, integer) IS
'Job counts by state and the latest jobs, of one tag group or all (what the UI polls). Viewers.
tag_group: the group''s name (default NULL: every job)
recent: how many of the latest jobs to list (default 5)
Returns: JSON: queued, running, done, error (counts) and recent (id, kind, state, error, created_at, finished_at).';

COMMENT ON FUNCTION mediatag.evaluation_summary(bigint) IS
'An evaluation''s header: its group, tag, dataset, thresholds and how much is judged. Viewers who can read its dataset.
evaluation_id: the evaluation''s id
Returns: evaluation_id, tag_group, tag, dataset, threshold (in force now on the dataset, at the evaluation''s
  level), threshold_at_start, items, judged, removed, saved_threshold, saved_metric, created_at, level (keyframe | shot).';

COMMENT ON FUNCTION mediatag.list_evaluations(text, text) IS
'Lists a tag''s evaluations, newest first. Viewers.
tag_group: the group''s name (case-insensitive)
tag: the tag''s name (case-insensitive)
Returns: evaluation_id, dataset, items, judged, saved_threshold, created_at, level (keyframe | shot).';
