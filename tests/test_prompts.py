"""Tests for skclip_noise.backbones.prompts (CoOp text context, VPT-deep, MaPLe)."""

import pathlib

import pytest
import torch

import skclip_noise  # noqa: F401  (installs the torchvision shim before open_clip)
import open_clip

from skclip_noise.backbones.prompts import (
    CoupledPromptLearner,
    PromptTextEncoder,
    VisualPromptEncoder,
    apply_bitfit,
    bitfit_parameters,
    freeze_module,
    require_vit,
    trainable_parameters,
    vit_forward_with_prompts,
)

CONFIG_DIR = pathlib.Path(skclip_noise.__file__).parent / "backbones" / "model_configs"
open_clip.add_model_config(CONFIG_DIR)

CLASSES = ["cat", "dog", "golden_retriever", "aeroplane"]
# Not bit-exact: the prompt encoder drops the tokens after the last end-of-text token,
# which changes the shapes of the matrix products and so their float rounding.
ATOL = 1e-5


def make_model(name="skclip-tiny", seed=0, **kwargs):
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None, **kwargs)
    return model.eval()


@pytest.fixture(scope="module")
def tokenizer():
    return open_clip.get_tokenizer("skclip-tiny")


@pytest.fixture
def vit_clip():
    return make_model("skclip-tiny")


def images(n=3, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g)


def clip_params_without_grad(model):
    return all((not p.requires_grad) and p.grad is None for p in model.parameters())


def phrase_embeddings(model, tokenizer, phrase, n):
    emb = model.text.token_embedding if hasattr(model, "text") else model.token_embedding
    ids = tokenizer([phrase])[0]
    return emb(ids)[1:1 + n].detach().clone()


# ---------------------------------------------------------------------------
# text side: exactness
# ---------------------------------------------------------------------------
TEXT_MODELS = [
    ("skclip-tiny", {}),  # ViT image tower, text tower on the model (CLIP)
    ("skclip-tiny-cnn", {}),  # timm trunk, CLIP layout
    ("skclip-tiny-cnn", {"force_custom_text": True}),  # CustomTextCLIP: text under model.text
]


@pytest.mark.parametrize("name,kwargs", TEXT_MODELS)
def test_ctx_init_reproduces_encode_text(name, kwargs, tokenizer):
    model = make_model(name, **kwargs)
    if kwargs.get("force_custom_text"):
        assert isinstance(model, open_clip.model.CustomTextCLIP)
    enc = PromptTextEncoder(model, CLASSES, ctx_init="a photo of a", tokenizer=tokenizer)
    assert enc.n_ctx == 4
    ref = model.encode_text(tokenizer([f"a photo of a {c.replace('_', ' ')}." for c in CLASSES]))
    out = enc()
    assert out.shape == (len(CLASSES), 48)
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name,kwargs", TEXT_MODELS)
def test_placeholder_context_set_to_words_reproduces_encode_text(name, kwargs, tokenizer):
    model = make_model(name, **kwargs)
    enc = PromptTextEncoder(model, CLASSES, n_ctx=4, tokenizer=tokenizer)
    # random init N(0, 0.02) differs from the words ...
    ref = model.encode_text(tokenizer([f"a photo of a {c.replace('_', ' ')}." for c in CLASSES]))
    assert not torch.allclose(enc(), ref, atol=1e-4)
    # ... and setting the context to the word embeddings reproduces encode_text
    with torch.no_grad():
        enc.ctx.copy_(phrase_embeddings(model, tokenizer, "a photo of a", 4).unsqueeze(0))
    torch.testing.assert_close(enc(), ref, atol=ATOL, rtol=0)


def test_default_context_is_16_random_tokens(vit_clip, tokenizer):
    torch.manual_seed(0)
    enc = PromptTextEncoder(vit_clip, CLASSES, tokenizer=tokenizer)
    assert enc.ctx.shape == (1, 16, 64)
    assert 0.01 < enc.ctx.std().item() < 0.03
    # fixed parts are buffers, not parameters, and not saved
    assert [n for n, _ in enc.named_parameters() if not n.startswith("clip.")] == ["ctx"]
    assert set(n for n, _ in enc.named_buffers() if not n.startswith("clip.")) >= {"token_prefix", "token_suffix"}
    assert [k for k in enc.state_dict() if not k.startswith("clip.")] == ["ctx"]
    # the sequence is never lengthened; it stops at the longest prompt's end-of-text token
    longest_eot = int(tokenizer([f"{'X ' * 16}{c.replace('_', ' ')}." for c in CLASSES]).argmax(dim=1).max())
    assert enc.tokenized_prompts.shape == (len(CLASSES), longest_eot + 1)
    assert enc.token_prefix.shape[1] + enc.n_ctx + enc.token_suffix.shape[1] == longest_eot + 1 < 77


def test_partial_ctx_init_keeps_rest_of_phrase(vit_clip, tokenizer):
    # MaPLe: "a photo" learnable, "of a" stays in the prompt
    enc = PromptTextEncoder(vit_clip, CLASSES, n_ctx=2, ctx_init="a photo of a", tokenizer=tokenizer)
    assert enc.ctx.shape == (1, 2, 64)
    torch.testing.assert_close(enc.ctx[0], phrase_embeddings(vit_clip, tokenizer, "a photo", 2))
    ref = vit_clip.encode_text(tokenizer([f"a photo of a {c.replace('_', ' ')}." for c in CLASSES]))
    torch.testing.assert_close(enc(), ref, atol=ATOL, rtol=0)


def test_two_contexts_batched_match_single(vit_clip, tokenizer):
    torch.manual_seed(0)
    dual = PromptTextEncoder(vit_clip, CLASSES, n_ctx=8, n_prompts=2, tokenizer=tokenizer)
    out = dual()
    assert out.shape == (2, len(CLASSES), 48)
    single = PromptTextEncoder(vit_clip, CLASSES, n_ctx=8, tokenizer=tokenizer)
    for k in range(2):
        torch.testing.assert_close(single(ctx=dual.ctx[k]), out[k], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out[0], out[1])
    # the two contexts are independent: a loss on one only reaches its own slice
    out[1].sum().backward()
    assert dual.ctx.grad[0].abs().sum() == 0 and dual.ctx.grad[1].abs().sum() > 0


# ---------------------------------------------------------------------------
# text side: gradients, deep prompts, errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs", TEXT_MODELS[1:])
def test_text_grad_reaches_only_context(name, kwargs, tokenizer):
    model = make_model(name, **kwargs)
    enc = PromptTextEncoder(model, CLASSES, n_ctx=4, tokenizer=tokenizer)
    enc().pow(2).sum().backward()
    assert enc.ctx.grad is not None and enc.ctx.grad.abs().sum() > 0
    assert clip_params_without_grad(model)
    assert trainable_parameters(enc) == [enc.ctx]


def test_deep_text_prompts_change_output_and_get_grad(vit_clip, tokenizer):
    enc = PromptTextEncoder(vit_clip, CLASSES, ctx_init="a photo of a", tokenizer=tokenizer)
    base = enc()
    deep = torch.zeros(4, 64).normal_(std=0.5).requires_grad_(True)
    out = enc(deep_prompts=[deep])
    assert not torch.allclose(out, base, atol=1e-4)
    out.sum().backward()
    assert deep.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="deep prompts"):
        enc(deep_prompts=[deep, deep])  # 2 layers -> at most 1 deep prompt


def test_placeholder_must_be_one_token(vit_clip, tokenizer):
    with pytest.raises(ValueError, match="single token"):
        PromptTextEncoder(vit_clip, CLASSES, n_ctx=4, tokenizer=tokenizer, placeholder="xqzvwpfk")


def test_ctx_init_too_short(vit_clip, tokenizer):
    with pytest.raises(ValueError, match="n_ctx"):
        PromptTextEncoder(vit_clip, CLASSES, n_ctx=5, ctx_init="a photo of a", tokenizer=tokenizer)


def test_prompt_too_long_raises(vit_clip, tokenizer):
    with pytest.raises(ValueError, match="context length"):
        PromptTextEncoder(vit_clip, ["word " * 80], n_ctx=4, tokenizer=tokenizer)


# ---------------------------------------------------------------------------
# VPT
# ---------------------------------------------------------------------------
def test_vpt_zero_tokens_reproduces_encode_image(vit_clip):
    vpt = VisualPromptEncoder(vit_clip, n_vpt=0)
    x = images()
    torch.testing.assert_close(vpt(x), vit_clip.encode_image(x), atol=ATOL, rtol=0)
    torch.testing.assert_close(vit_forward_with_prompts(vit_clip.visual, x), vit_clip.encode_image(x),
                               atol=ATOL, rtol=0)


def test_vpt_shapes_init_and_effect(vit_clip):
    torch.manual_seed(0)
    vpt = VisualPromptEncoder(vit_clip, n_vpt=5)
    assert vpt.prompts.shape == (2, 5, 96)
    bound = (6.0 / (3 * 8 * 8 + 96)) ** 0.5
    assert vpt.prompts.abs().max() <= bound and vpt.prompts.abs().max() > 0.5 * bound
    x = images()
    out = vpt(x)
    assert out.shape == (3, 48)
    assert not torch.allclose(out, vit_clip.encode_image(x), atol=1e-4)


def test_vpt_grads_every_layer_and_frozen_clip(vit_clip):
    vpt = VisualPromptEncoder(vit_clip, n_vpt=3)
    vpt(images()).pow(2).sum().backward()
    assert vpt.prompts.grad is not None
    for layer in range(vpt.prompts.shape[0]):
        assert vpt.prompts.grad[layer].abs().sum() > 0, layer
    assert clip_params_without_grad(vit_clip)
    assert trainable_parameters(vpt) == [vpt.prompts]


def test_vpt_layout_matches_manual_reference(vit_clip):
    # tokens after ln_pre, prompts appended, sequence cut back before every
    # block, prompts stripped before _pool (ln_post) and the projection
    torch.manual_seed(0)
    vpt = VisualPromptEncoder(vit_clip, n_vpt=3)
    visual, x = vit_clip.visual, images()
    tokens = visual._embeds(x)
    n = tokens.shape[1]
    h = tokens
    for layer, blk in enumerate(visual.transformer.resblocks):
        h = torch.cat([h[:, :n], vpt.prompts[layer].expand(3, -1, -1)], 1)
        h = blk(h, attn_mask=None)
    ref = visual._pool(h[:, :n])[0] @ visual.proj
    out = vpt(x)
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)
    # the last layer's prompts matter too
    with torch.no_grad():
        vpt.prompts[-1].normal_()
    assert not torch.allclose(vpt(x), out, atol=1e-5)


def test_vpt_rejects_non_vit():
    model = make_model("skclip-tiny-cnn")
    with pytest.raises(ValueError, match="ViT image tower") as err:
        VisualPromptEncoder(model, n_vpt=4)
    assert "tuning='peft'" in str(err.value) and "BitFit" in str(err.value)
    assert "tuning='frozen'" in str(err.value)
    with pytest.raises(ValueError, match="ViT image tower"):
        CoupledPromptLearner(model, CLASSES, prompt_depth=2, text_only=False)
    with pytest.raises(ValueError, match="ViT image tower"):
        require_vit(model.visual)  # an image tower is accepted as well as the model
    assert require_vit(make_model("skclip-tiny").visual) is not None


def test_bitfit_on_timm_trunk():
    model = make_model("skclip-tiny-cnn")
    params = bitfit_parameters(model.visual)
    names = {id(p): n for n, p in model.visual.named_parameters()}
    assert params and all(names[id(p)].endswith("bias") for p in params)
    trainable = apply_bitfit(model.visual)
    assert {id(p) for p in trainable_parameters(model.visual)} == {id(p) for p in trainable}
    model.encode_image(images(2, 64)).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
    freeze_module(model)
    assert trainable_parameters(model) == []


# ---------------------------------------------------------------------------
# MaPLe
# ---------------------------------------------------------------------------
def test_maple_shallow_text_equals_encode_text(vit_clip, tokenizer):
    maple = CoupledPromptLearner(vit_clip, CLASSES, n_ctx=2, prompt_depth=1, tokenizer=tokenizer)
    assert len(maple.deep_text_prompts) == 0 and len(maple.couplings) == 1
    ref = vit_clip.encode_text(tokenizer([f"a photo of a {c.replace('_', ' ')}." for c in CLASSES]))
    torch.testing.assert_close(maple.encode_text(), ref, atol=ATOL, rtol=0)


def test_maple_vision_path_matches_encode_image_when_empty(vit_clip):
    # MaPLe's vision path with no prompt tokens is encode_image
    x = images()
    empty = [torch.zeros(0, 96), torch.zeros(0, 96)]
    torch.testing.assert_close(
        vit_forward_with_prompts(vit_clip.visual, x, empty, first_through_ln_pre=True),
        vit_clip.encode_image(x), atol=ATOL, rtol=0)


def test_maple_shallow_prompt_goes_through_ln_pre(vit_clip):
    # appending before ln_pre == appending ln_pre(prompt) after it (per-token norm)
    visual = vit_clip.visual
    x = images()
    p = torch.randn(2, 96)
    out = vit_forward_with_prompts(visual, x, [p], first_through_ln_pre=True)
    tokens = visual._embeds(x)
    seq = torch.cat([tokens, visual.ln_pre(p).expand(3, -1, -1)], 1)
    seq = visual.transformer(seq)[:, :tokens.shape[1]]
    ref = visual._pool(seq)[0] @ visual.proj
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)


def test_maple_coupling_widths_and_grads(vit_clip, tokenizer):
    torch.manual_seed(0)
    maple = CoupledPromptLearner(vit_clip, CLASSES, n_ctx=2, prompt_depth=2, tokenizer=tokenizer)
    assert maple.text_width == 64 and maple.vision_width == 96
    assert [tuple(lin.weight.shape) for lin in maple.couplings] == [(96, 64), (96, 64)]
    assert [tuple(p.shape) for p in maple.deep_text_prompts] == [(2, 64)]
    assert [tuple(v.shape) for v in maple.vision_prompts()] == [(2, 96), (2, 96)]

    x = images()
    img, txt = maple(x)
    assert img.shape == (3, 48) and txt.shape == (len(CLASSES), 48)
    # vision-only loss reaches the text prompts through the couplings
    img.pow(2).sum().backward()
    assert maple.deep_text_prompts[0].grad.abs().sum() > 0
    assert maple.ctx.grad.abs().sum() > 0
    assert all(lin.weight.grad.abs().sum() > 0 for lin in maple.couplings)
    assert clip_params_without_grad(vit_clip)
    own = {id(p) for p in [maple.ctx, *maple.deep_text_prompts, *maple.couplings.parameters()]}
    assert {id(p) for p in trainable_parameters(maple)} == own

    maple.zero_grad()
    logits = maple.logits(x)
    assert logits.shape == (3, len(CLASSES))
    assert logits.abs().max() <= 100.0 + 1e-4
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    assert maple.deep_text_prompts[0].grad.abs().sum() > 0


def test_maple_prompts_change_outputs(vit_clip, tokenizer):
    maple = CoupledPromptLearner(vit_clip, CLASSES, n_ctx=2, prompt_depth=2, tokenizer=tokenizer)
    x = images()
    assert not torch.allclose(maple.encode_image(x), vit_clip.encode_image(x), atol=1e-4)
    ref = vit_clip.encode_text(tokenizer([f"a photo of a {c.replace('_', ' ')}." for c in CLASSES]))
    assert not torch.allclose(maple.encode_text(), ref, atol=1e-4)  # deep text prompt at layer 1


def test_maple_depth_and_options(tokenizer):
    model = make_model("skclip-tiny")
    with pytest.raises(ValueError, match="prompt_depth"):
        CoupledPromptLearner(model, CLASSES, prompt_depth=9, tokenizer=tokenizer)
    maple = CoupledPromptLearner(model, CLASSES, prompt_depth=2, tokenizer=tokenizer,
                                 logit_scale="clip", freeze_clip=False)
    torch.testing.assert_close(maple.get_logit_scale(), model.logit_scale.exp())
    img, _ = maple(images())
    img.sum().backward()
    assert model.visual.conv1.weight.grad is not None  # encoders fine-tuned (AVL-Prompter)


def test_grad_checkpointing_paths_agree(tokenizer):
    model = make_model("skclip-tiny")
    maple = CoupledPromptLearner(model, CLASSES, prompt_depth=2, tokenizer=tokenizer)
    x = images()
    img, txt = maple(x)
    model.set_grad_checkpointing(True)
    img2, txt2 = maple(x)
    torch.testing.assert_close(img2, img, atol=ATOL, rtol=0)
    torch.testing.assert_close(txt2, txt, atol=ATOL, rtol=0)
    (img2.sum() + txt2.sum()).backward()
    assert maple.deep_text_prompts[0].grad.abs().sum() > 0
    # the CLIP weights are held once
    assert sum(k.endswith("visual.conv1.weight") for k in maple.state_dict()) == 1



# ---------------------------------------------------------------------------
# MaPLe, text-only mode (non-ViT image towers)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"force_custom_text": True}])
def test_text_only_mode_on_cnn_tower(kwargs, tokenizer):
    model = make_model("skclip-tiny-cnn", **kwargs)
    torch.manual_seed(0)
    learner = CoupledPromptLearner(model, CLASSES, n_ctx=2, prompt_depth=2, tokenizer=tokenizer)
    assert learner.text_only and learner.vision_width is None
    assert len(learner.couplings) == 0 and learner.vision_prompts() == []
    assert [tuple(p.shape) for p in learner.deep_text_prompts] == [(2, 64)]
    own = [n for n, _ in learner.named_parameters() if ".clip." not in f".{n}"]
    assert own == ["text_encoder.ctx", "deep_text_prompts.0"]
    x = images(2, 64)
    torch.testing.assert_close(learner.encode_image(x), model.encode_image(x), atol=0, rtol=0)
    logits = learner.logits(x)
    assert logits.shape == (2, len(CLASSES)) and logits.abs().max() <= 100.0 + 1e-4
    logits.sum().backward()
    assert learner.deep_text_prompts[0].grad.abs().sum() > 0 and learner.ctx.grad.abs().sum() > 0
    assert clip_params_without_grad(model)
    # the deep prompt is bounded by the text tower alone
    with pytest.raises(ValueError, match="text tower has 2 layers"):
        CoupledPromptLearner(model, CLASSES, prompt_depth=3, tokenizer=tokenizer)


def test_text_only_shallow_equals_encode_text_and_can_be_forced_on_vit(vit_clip, tokenizer):
    learner = CoupledPromptLearner(vit_clip, CLASSES, prompt_depth=1, tokenizer=tokenizer, text_only=True)
    assert learner.text_only and len(learner.couplings) == 0
    ref = vit_clip.encode_text(tokenizer([f"a photo of a {c.replace('_', ' ')}." for c in CLASSES]))
    torch.testing.assert_close(learner.encode_text(), ref, atol=ATOL, rtol=0)
    x = images()
    torch.testing.assert_close(learner.encode_image(x), vit_clip.encode_image(x), atol=0, rtol=0)
    assert not CoupledPromptLearner(vit_clip, CLASSES, prompt_depth=1, tokenizer=tokenizer).text_only


@pytest.mark.parametrize("kwargs", [{}, {"force_custom_text": True}])
def test_token_embedding_property_is_the_clip_table(kwargs, tokenizer):
    model = make_model("skclip-tiny-cnn", **kwargs)
    enc = PromptTextEncoder(model, CLASSES, n_ctx=2, tokenizer=tokenizer)
    table = model.text.token_embedding if kwargs else model.token_embedding
    assert enc.token_embedding is table
