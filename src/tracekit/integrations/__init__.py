"""Automatic tracing of LLM provider SDKs: ``tracekit.openai.autolog()``,
``tracekit.anthropic.autolog()``. Each module patches its SDK lazily and reversibly."""
