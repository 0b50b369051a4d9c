"""After pretraining: the ChatGPT recipe's tuning stage (course: "ChatGPT는 어떻게 훈련?").

``template`` (the chat template: conversations ⇄ token ids, with the loss mask from the same function),
``chat_data`` (OpenAI-format chat JSONL, validated with line numbers), ``skills`` (``builtin:skills``, an
offline Korean/English instruction set with checkable answers), ``sft`` (the supervised fine-tuning
*task* for the one training loop), ``finetune`` (``genlab finetune``: base run → chat run), ``lora``
(low-rank adapters, merged on save), ``answers`` (exact-match evaluation of a chat run).
"""
