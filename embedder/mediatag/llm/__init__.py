"""LLM features: prompt suggestions and evaluator ground truth through any OpenAI-compatible endpoint.

One file per job: `config` (environment), `client` (chat-completions over httpx with retries), `parse` (tolerant
reading of model replies), `suggest` and `wordnet` (prompt suggestions, online and offline), `ground_truth` (the
VLM judging evaluation items), `jobs` (the worker loop that claims LLM jobs from mediatag.job), `routes` (the
service's HTTP endpoint that SQL calls). See docs/llm.md.
"""
