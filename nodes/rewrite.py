"""Rewriting a prompt with Core's Generate Text: the NAVA instructions in, the span-checked caption out."""

from __future__ import annotations

from comfy_api.latest import io

from nava_model.rewrite import RewriteMode, SpanPolicy, check_rewrite, instructions, single_turn_prompt

from .prompt import EXAMPLE_PROMPT
from .sockets import PROMPT_CATEGORY


class NAVARewriteInstructions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVARewriteInstructions",
            display_name="NAVA Rewrite Instructions",
            category=PROMPT_CATEGORY,
            description="Asks an LLM to rewrite a short idea into the long, structured caption NAVA was trained on, "
            "keeping every <S>…<E> span word for word. Connect llm_prompt to Generate Text's prompt and prompt to "
            "NAVA Rewritten Prompt's original.",
            inputs=[
                io.String.Input(
                    "prompt",
                    multiline=True,
                    default=EXAMPLE_PROMPT,
                    tooltip="Your idea, in any language. Spoken words go between <S> and <E>; they are kept as written.",
                ),
                io.Combo.Input(
                    "mode",
                    options=[mode.value for mode in RewriteMode],
                    default=RewriteMode.TEXT.value,
                    tooltip="'image to audio+video' asks the LLM to start from the first frame: connect that image to "
                    "Generate Text and use a vision-language model (e.g. Qwen3-VL).",
                ),
            ],
            outputs=[
                io.String.Output(display_name="llm_prompt", tooltip="Instructions and idea in one message: Generate "
                                 "Text's prompt (it has no separate system prompt)."),
                io.String.Output(display_name="instructions", tooltip="The instructions alone, for LLM nodes with a "
                                 "system prompt input."),
                io.String.Output(display_name="prompt", tooltip="Your idea unchanged: NAVA Rewritten Prompt's original."),
            ],
        )

    @classmethod
    def execute(cls, prompt: str, mode: str) -> io.NodeOutput:
        return io.NodeOutput(single_turn_prompt(prompt, mode), instructions(mode), prompt)


class NAVARewrittenPrompt(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVARewrittenPrompt",
            display_name="NAVA Rewritten Prompt",
            category=PROMPT_CATEGORY,
            description="Checks an LLM's rewrite against your prompt: removes reasoning and chat debris, and makes sure "
            "the <S>…<E> spans came back with the same words, count and order, so voices still bind to them.",
            inputs=[
                io.String.Input("original", force_input=True, tooltip="Your prompt before rewriting "
                                "(NAVA Rewrite Instructions' prompt output)."),
                io.String.Input("llm_output", force_input=True, tooltip="What the LLM answered (Generate Text's "
                                "generated_text)."),
                io.Combo.Input(
                    "on_broken_spans",
                    options=[policy.value for policy in SpanPolicy],
                    default=SpanPolicy.REPAIR.value,
                    tooltip="When the LLM lost or changed a span: 'repair' puts your words back where they can be "
                    "placed (else keeps your prompt), 'keep original' uses your prompt, 'fail' stops the run.",
                ),
            ],
            outputs=[
                io.String.Output(display_name="prompt", tooltip="The prompt to generate with."),
                io.String.Output(display_name="changes", tooltip="What was changed or repaired (connect Preview Any "
                                 "to read it)."),
            ],
        )

    @classmethod
    def execute(cls, original: str, llm_output: str, on_broken_spans: str) -> io.NodeOutput:
        checked = check_rewrite(original, llm_output, on_broken_spans)
        summary = checked.summary(original)
        return io.NodeOutput(checked.prompt, summary, ui={"text": [summary]})
