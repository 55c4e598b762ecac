-- What a caller sees for bad input: the error, its DETAIL and its HINT. Run as the superuser, who passes every
-- role check, so each error here is about the input (roles.sql has the refusals). CONTEXT lines are left out:
-- they carry line numbers inside function bodies, which change with every edit.
\set SHOW_CONTEXT never

-- Names that do not exist, or that the caller may not see (the same error, so names do not leak).
SELECT mediatag.dataset_id('no such dataset');
SELECT * FROM mediatag.group_overview('No such group');
SELECT mediatag.set_threshold('Celebrities', 'Tom Cruise', 0.5);
SELECT * FROM mediatag.evaluation_items(999);
SELECT * FROM mediatag.concept_scores('no_such_concept');
SELECT * FROM mediatag.concept_scores('aerial_shots', version => 99);

-- Datasets.
SELECT mediatag.create_dataset('../etc', 'regress-visual', 32, 'regress-text', 32);
SELECT mediatag.create_dataset('trailers', 'another-model', 32, 'regress-text', 32);

-- Groups and tags.
SELECT mediatag.create_tag_group('trailers', '', ARRAY['dog']);
SELECT mediatag.create_tag_group('trailers', 'Animals', ARRAY['dog'], visibility => 'public');
SELECT mediatag.create_tag_group('trailers', 'Animals', keywords => E'\n  \n');
SELECT mediatag.create_tag_group('trailers', 'Animals', keywords => E'dog\nhot-dog');
SELECT mediatag.create_tag_group('trailers', 'Animals', keywords => E'dog\nDog');
SELECT mediatag.create_tag_group('trailers', 'celebrities', keywords => 'dog');
SELECT mediatag.add_tags('Celebrities', ARRAY['Will Smith']);
SELECT mediatag.rename_tag('Celebrities', 'Taylor Swift', 'Will Smith');
SELECT mediatag.delete_tag('Celebrities', 'Taylor Swift');
SELECT mediatag.add_prompt('Celebrities', 'Will Smith', 'a tuxedo', polarity => 'neutral');
SELECT mediatag.add_prompt('Celebrities', 'Will Smith', 'a tuxedo', modality => 'audio');
SELECT mediatag.add_prompt('Celebrities', 'Will Smith', '   ');
SELECT mediatag.add_prompt('Celebrities', 'Will Smith', 'a tuxedo', dataset => 'episodes');
SELECT mediatag.remove_prompt('Celebrities', 'Will Smith', 'a tuxedo');
SELECT mediatag.set_threshold('Celebrities', 'Will Smith', 1.5);

-- Labels.
SELECT mediatag.label_keyframes('Celebrities', 'Will Smith', ARRAY[101], label => NULL);
SELECT mediatag.label_keyframes('Celebrities', 'Will Smith', ARRAY[101], true, origin => 'guess');
SELECT mediatag.label_keyframes('Celebrities', 'Will Smith', ARRAY[101, 999999], true);
SELECT mediatag.label_keyframes('Celebrities', 'Will Smith', ARRAY[131], true);

-- Previews, publishing, applying.
SELECT * FROM mediatag.preview('Celebrities', 'Will Smith', kind => 'all');
SELECT * FROM mediatag.preview('Celebrities', 'Will Smith', level => 'video');
SELECT * FROM mediatag.preview('Celebrities', 'Will Smith', threshold => 2);
SELECT mediatag.publish_tag_group('Celebrities', visibility => 'secret');
SELECT mediatag.set_group_visibility('Celebrities', NULL);
SELECT * FROM mediatag.preview_transcripts('Celebrities', 'Will Smith', kind => 'some');
SELECT * FROM mediatag.preview_transcripts('Celebrities', 'Will Smith', sort => 'random');
SELECT mediatag.export_segments('trailers', 'Celebrities', 'Will Smith', format => 'mp4');
SELECT mediatag.apply_tag_group('Celebrities', 'episodes', version => 7);
SELECT mediatag.unapply_tag_group('Celebrities', 'trailers');

-- Evaluations.
SELECT mediatag.start_evaluation('Celebrities', 'Will Smith', size => 5);
SELECT mediatag.start_evaluation('Celebrities', 'Will Smith', dataset => 'vault');
SELECT mediatag.set_ground_truth(1, ARRAY[181], true);
SELECT mediatag.set_ground_truth(1, ARRAY[5], true, source => 'oracle');
SELECT * FROM mediatag.suggest_threshold(1, metric => 'auc');
SELECT mediatag.save_threshold(1, threshold => -1);

-- Search.
SELECT * FROM mediatag.search('trailers');
SELECT * FROM mediatag.search('trailers', query => 'dog', k => 0);
SELECT * FROM mediatag.search('trailers', query => 'dog', "offset" => -1);
SELECT * FROM mediatag.search('trailers', keyframe => 131);
SELECT * FROM mediatag.search('trailers', embedding => '[1,2,3]');
SELECT * FROM mediatag.search('trailers', embedding => array_fill(0, ARRAY[32])::vector);
SELECT * FROM mediatag.search('trailers', query => 'dog', recall => 0);
SELECT * FROM mediatag.search_transcripts('trailers', 'dog', mode => 'fuzzy');

-- Concepts, transcription and faces: the words their arguments allow.
SELECT mediatag.label_concept('aerial_shots', ARRAY[101], label => 'maybe');
SELECT mediatag.label_concept('aerial_shots', ARRAY[101], origin => 'guess');
SELECT mediatag.transcribe('trailers', asr => 'whisper.cpp');
SELECT mediatag.enable_faces('trailers', detector => 'mtcnn');
-- A text value (not a literal) converts to the argument's type and is checked the same way.
SELECT mediatag.transcribe('trailers', asr => x) FROM (VALUES ('siri'::text)) v(x);

-- Access and settings.
SELECT mediatag.grant_dataset_access('trailers', 'regress_viewer', level => 'owner');
SELECT mediatag.grant_dataset_access('trailers', 'regress_nobody_at_all');
SELECT mediatag.set_service('file:///etc/passwd');

-- The embedding service itself, not running (port 9: nothing listens there). The suite's stand-in replaces only
-- mediatag.embed_texts, so this is the real path.
SELECT mediatag.set_service('http://127.0.0.1:9');
SELECT mediatag.embed_images(ARRAY['/nonexistent.jpg'], 'regress-visual');
