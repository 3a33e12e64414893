"""The chat templates InternVL2 models were trained with, as InternVL's ``conversation.py`` defines them.

All three are InternVL's "MPT" separator style: ``system + sep``, then ``role + message + sep`` per
turn, and the bare assistant role to ask for an answer. Note there is no newline after the
separator: that is how InternVL2 builds prompts (``<|im_end|><|im_start|>user\\n``), unlike the
plain ChatML of the base LLMs.

- ``Hermes-2``: InternVL2-1B (Qwen2-0.5B); ChatML markers.
- ``internlm2-chat``: InternVL2-2B and -8B (InternLM2); the same text, and InternVL's training
  adds the tokenizer's ``<s>`` in front (the tokenizer does that for us).
- ``phi3-chat``: InternVL2-4B (Phi-3-mini).

Each template also renders as a Jinja ``chat_template`` saved with imported checkpoints, so
``tokenizer.apply_chat_template`` gives the same text (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ChatTemplate", "TEMPLATES", "INTERNVL_SYSTEM_MESSAGE", "get_template", "template_for_llm"]

#: InternVL2's default system message (kept as in training: changing it shifts model behaviour).
INTERNVL_SYSTEM_MESSAGE = (
    "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。"
)


@dataclass(frozen=True)
class ChatTemplate:
    """An MPT-style conversation template.

    >>> get_template("Hermes-2").prompt("<image>\\nHi", system="S")
    '<|im_start|>system\\nS<|im_end|><|im_start|>user\\n<image>\\nHi<|im_end|><|im_start|>assistant\\n'
    """

    name: str
    system_template: str
    roles: tuple[str, str]
    sep: str
    system_message: str = INTERNVL_SYSTEM_MESSAGE

    @property
    def stop_token(self) -> str:
        """The token that ends an answer (InternVL's ``chat()`` stops on ``sep.strip()``)."""
        return self.sep.strip()

    def render(self, turns: Sequence[tuple[str, str | None]], *, system: str | None = None) -> str:
        """The text of a conversation: ``turns`` are ``(question, answer)``; ``answer=None`` on the
        last turn leaves the prompt open for generation.

        >>> get_template("phi3-chat").render([("Q", "A")], system="S")
        '<|system|>\\nS<|end|><|user|>\\nQ<|end|><|assistant|>\\nA<|end|>'
        """
        system = self.system_message if system is None else system
        text = self.system_template.format(system_message=system) + self.sep
        for question, answer in turns:
            text += self.roles[0] + question + self.sep + self.roles[1]
            if answer is not None:
                text += answer + self.sep
        return text

    def prompt(self, question: str, *, system: str | None = None) -> str:
        """A single-turn prompt ready for generation.

        >>> get_template("phi3-chat").prompt("Q", system="")
        '<|system|>\\n<|end|><|user|>\\nQ<|end|><|assistant|>\\n'
        """
        return self.render([(question, None)], system=system)

    def jinja(self) -> str:
        """The template as a Hugging Face ``chat_template`` (Jinja) giving the same text.

        A leading ``system`` message replaces the default system message; string contents, or
        lists of ``{"type": "image"}`` / ``{"type": "text", "text": ...}`` parts.

        >>> "<|im_start|>assistant" in get_template("Hermes-2").jinja()
        True
        """
        head, tail = self.system_template.split("{system_message}")
        user, assistant = self.roles
        return (
            "{%- if messages and messages[0]['role'] == 'system' -%}"
            "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
            f"{{%- else -%}}{{%- set system = {self.system_message!r} -%}}{{%- set turns = messages -%}}"
            "{%- endif -%}"
            f"{{{{- {head!r} + system + {tail!r} + {self.sep!r} -}}}}"
            "{%- for m in turns -%}"
            f"{{{{- {user!r} if m['role'] == 'user' else {assistant!r} -}}}}"
            "{%- if m['content'] is string -%}{{- m['content'] -}}{%- else -%}"
            "{%- for part in m['content'] -%}"
            "{%- if part['type'] == 'image' -%}{{- '<image>\\n' -}}"
            "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
            "{%- endfor -%}{%- endif -%}"
            f"{{{{- {self.sep!r} -}}}}"
            "{%- endfor -%}"
            f"{{%- if add_generation_prompt -%}}{{{{- {assistant!r} -}}}}{{%- endif -%}}"
        )


TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in (
        ChatTemplate(
            "Hermes-2",
            "<|im_start|>system\n{system_message}",
            ("<|im_start|>user\n", "<|im_start|>assistant\n"),
            "<|im_end|>",
        ),
        ChatTemplate(
            "internlm2-chat",
            "<|im_start|>system\n{system_message}",
            ("<|im_start|>user\n", "<|im_start|>assistant\n"),
            "<|im_end|>",
        ),
        ChatTemplate("phi3-chat", "<|system|>\n{system_message}", ("<|user|>\n", "<|assistant|>\n"), "<|end|>"),
    )
}

#: Which template an InternVL2 chat model of each LLM family was trained with.
_TEMPLATE_OF_LLM = {"qwen2": "Hermes-2", "internlm2": "internlm2-chat", "llama": "internlm2-chat", "phi3": "phi3-chat"}


def get_template(name: str) -> ChatTemplate:
    """The template called ``name`` (``Hermes-2``, ``internlm2-chat``, ``phi3-chat``).

    >>> get_template("internlm2-chat").stop_token
    '<|im_end|>'
    """
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown chat template {name!r} (known: {', '.join(TEMPLATES)})") from None


def template_for_llm(model_type: str) -> ChatTemplate:
    """The template InternVL2 used for an LLM family (``qwen2``, ``internlm2``/``llama``, ``phi3``).

    >>> template_for_llm("qwen2").name
    'Hermes-2'
    """
    try:
        return TEMPLATES[_TEMPLATE_OF_LLM[model_type]]
    except KeyError:
        raise ValueError(f"no InternVL2 chat template for LLM type {model_type!r}") from None
