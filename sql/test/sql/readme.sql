-- The README's SQL section, statement by statement, on the fixture datasets. Where a statement's rows carry
-- scores (floats from numpy training, whose last digits may differ between machines), the same call is wrapped to
-- show what it returned but not those digits. Keep this file in step with README.md.
SET search_path = mediatag_data, mediatag, public;

-- A group from one keyword per line, on a training dataset; every line is a tag and its first prompt.
SELECT mediatag.create_tag_group(dataset => 'trailers', name => 'Celebrities',
                                 keywords => E'Taylor Swift\nWill Smith');
SELECT mediatag.add_prompt(tag_group => 'Celebrities', tag => 'Will Smith', prompt => 'Will Smith on a red carpet');
SELECT mediatag.add_prompt(tag_group => 'Celebrities', tag => 'Will Smith', prompt => 'Jaden Smith',
                           polarity => 'negative', modality => 'visual');
SELECT side, count(*), bool_and(score BETWEEN 0 AND 1) AS scores_ok, bool_and(decision = (score >= 0.5)) AS decided
FROM mediatag.preview(tag_group => 'Celebrities', tag => 'Will Smith', kind => 'compare', threshold => 0.5)
GROUP BY side ORDER BY side;
SELECT mediatag.label_keyframes('Celebrities', 'Will Smith', keyframes => ARRAY[101, 102], label => true);
SELECT count(*), count(DISTINCT keyframe_id) FROM mediatag.uncertain_keyframes('Celebrities', 'Will Smith', k => 20);
SELECT tag, "position", threshold, visual_positive, visual_negative, transcript_positive, transcript_negative,
       labels_yes, labels_no, classifier_version
FROM mediatag.group_overview('Celebrities') ORDER BY "position";
SELECT mediatag.publish_tag_group('Celebrities', visibility => 'shareable');
SELECT mediatag.apply_tag_group('Celebrities', dataset => 'episodes');
CALL mediatag.run_jobs();                         -- or let `mediatag serve`'s worker do it
SELECT dataset, role, applied_version, scored_version, latest_version, update_available, status, error
FROM mediatag.tag_group_status('Celebrities');  -- queued | unscored | scored | error, update_available

-- Counts per tag above threshold
SELECT tag, count(*) FILTER (WHERE threshold_decision) AS keyframes, count(DISTINCT video_id)
       FILTER (WHERE threshold_decision) AS videos
FROM dt_celebrities_visual GROUP BY tag ORDER BY keyframes DESC;

-- Keyframes of a tag in a time range, with series and episode (per-dataset view: metadata keys are columns)
SELECT "SeriesName", "EpisodeName", count(*), min(keyframe_time_ms), max(keyframe_time_ms) FROM (
SELECT k."SeriesName", k."EpisodeName", v.keyframe_time_ms, v.score, k.path
FROM dt_celebrities_visual v JOIN episodes_keyframes k USING (keyframe_id)
WHERE v.tag = 'Will Smith' AND v.threshold_decision AND v.keyframe_time_ms BETWEEN 60000 AND 120000
ORDER BY v.video_id, v.keyframe_time_ms
) x GROUP BY 1, 2 ORDER BY 1, 2;

-- Top videos per tag
SELECT tag, count(*), count(DISTINCT video_id), bool_and(score BETWEEN 0 AND 1) AS scores_ok FROM (
SELECT tag, video_id, score, shots_above_threshold
FROM (SELECT *, row_number() OVER (PARTITION BY tag ORDER BY score DESC) AS r FROM dt_celebrities_video
      WHERE video_id IS NOT NULL) x
WHERE r <= 5
) y GROUP BY tag ORDER BY tag;

-- Evaluate a tag: ~400 stratified keyframes, ground truth, metrics per threshold, save the best one
SELECT mediatag.start_evaluation('Celebrities', 'Will Smith');             -- → evaluation id
SELECT count(*), count(truth) AS judged FROM mediatag.evaluation_items(1);
SELECT mediatag.set_ground_truth(1, keyframes => ARRAY[5, 9], truth => true);
SELECT mediatag.remove_evaluation_items(1, keyframes => ARRAY[12]);       -- items judged wrong
SELECT count(*) AS thresholds FROM mediatag.evaluation_metrics(1);        -- F1, F0.5, precision, recall, accuracy
SELECT metric, judged, threshold BETWEEN 0 AND 1 AS threshold_ok FROM mediatag.suggest_threshold(1, metric => 'f1');
SELECT mediatag.save_threshold(1, metric => 'f1') = (SELECT threshold FROM mediatag.suggest_threshold(1, metric => 'f1'))
       AS saved;                                                          -- threshold_decision follows at once

-- How many images show a concept (a concept made here from a description: the README's starts from labels)
SELECT mediatag.create_concept('trailers', 'aerial_shots', description => 'aerial shots');
SELECT count(*) FILTER (WHERE decision) AS images, count(*) AS scored
FROM mediatag.concept_scores(concept => 'aerial_shots');

-- Datasets are open to every mediatag role until an admin restricts one
SELECT mediatag.grant_dataset_access('episodes', 'regress_viewer', level => 'editor');
SELECT role, level, granted_by FROM mediatag.dataset_access('episodes');
SELECT mediatag.revoke_dataset_access('episodes', 'regress_viewer');
RESET search_path;
