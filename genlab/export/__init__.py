"""Leaving genlab and coming in: a trained GPT run as a Hugging Face folder or a GGUF file, and a
local GPT-2 checkpoint as a genlab run.

genlab's GPT uses GPT-2's architecture and names (``wte``, ``wpe``, ``c_attn``, …), so the mapping is
one to one (``gpt2_weights``); tokenizers become ``tokenizer.json`` files HF ``tokenizers`` reads
with the same ids (``hf_tokenizer``). ``hf.py`` writes a ``GPT2LMHeadModel`` folder, ``gguf.py`` a
llama.cpp ``gpt2`` file, ``import_hf.py`` reads a ``GPT2LMHeadModel`` folder back (GPT-2's ids, or
genlab's own from an export: ``import_tokenizer``). ``destination`` keeps every ``--out`` off runs and
files the commands did not write.
"""
