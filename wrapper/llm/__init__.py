"""The shared LLM layer: an OpenAI-compatible chat client with a persistent cache.

Used by `autorerank generate` (questions per chunk) and by the RankGPT reranking baseline
(`autorerank eval --llm-reranker`).

```python
from wrapper.llm import CompletionCache, LLMClient, LLMSettings
client = LLMClient(LLMSettings("http://127.0.0.1:11434/v1", "qwen2.5:7b"), CompletionCache("llm-cache.sqlite"))
replies = client.map([[{"role": "user", "content": "..."}]])
print(client.usage.as_dict())
```
"""

from wrapper.llm.cache import ENV_CACHE, CompletionCache, default_cache_path, request_key
from wrapper.llm.client import (
    KEY_ENV_VARS, CallFailed, LLMClient, LLMSettings, Reply, Usage, api_key_from_env, public_url,
)

__all__ = ["ENV_CACHE", "KEY_ENV_VARS", "default_cache_path", "CallFailed", "CompletionCache", "LLMClient", "LLMSettings", "Reply", "Usage",
           "api_key_from_env", "public_url", "request_key"]
