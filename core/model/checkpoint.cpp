#include "core/model/checkpoint.h"

#include <mutex>

#include <ATen/Context.h>

namespace ps {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What the backward pass needs besides the saved input: the block itself and the generator
// states of the forward. Held by the autograd context as a capsule.
struct BlockHolder : torch::CustomClassHolder {
    std::function<torch::Tensor(const torch::Tensor&)> block;
    std::vector<torch::Tensor> params;
    torch::Device device{torch::kCPU};
    torch::Tensor cpu_rng, device_rng;
};

torch::Tensor generator_state(const at::Generator& g) {
    std::lock_guard<std::mutex> lock(const_cast<at::Generator&>(g).mutex());
    return g.get_state();
}

void set_generator_state(const at::Generator& g, const torch::Tensor& state) {
    std::lock_guard<std::mutex> lock(const_cast<at::Generator&>(g).mutex());
    const_cast<at::Generator&>(g).set_state(state);
}

// Sets the generators to the forward's states for the recomputation, and back afterwards: the
// draws after the backward are then those of a run without checkpointing.
class ReplayRng {
public:
    explicit ReplayRng(const BlockHolder& h) : h_(h) {
        const auto& cpu = at::globalContext().defaultGenerator(torch::kCPU);
        now_cpu_ = generator_state(cpu);
        set_generator_state(cpu, h.cpu_rng);
        if (h.device.is_cuda()) {
            const auto& dev = at::globalContext().defaultGenerator(h.device);
            now_device_ = generator_state(dev);
            set_generator_state(dev, h.device_rng);
        }
    }
    ~ReplayRng() {
        set_generator_state(at::globalContext().defaultGenerator(torch::kCPU), now_cpu_);
        if (h_.device.is_cuda()) set_generator_state(at::globalContext().defaultGenerator(h_.device), now_device_);
    }

private:
    const BlockHolder& h_;
    torch::Tensor now_cpu_, now_device_;
};

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
    // `params` are inputs so the engine routes their gradients (and calls backward at all when
    // only they need one: frozen embeddings under LoRA give blocks an input without gradient).
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, at::TensorList params,
                                 c10::intrusive_ptr<BlockHolder> holder) {
        (void)params;
        holder->device = x.device();
        holder->cpu_rng = generator_state(at::globalContext().defaultGenerator(torch::kCPU));
        if (x.is_cuda()) holder->device_rng = generator_state(at::globalContext().defaultGenerator(x.device()));
        ctx->save_for_backward({x});
        ctx->saved_data["x_requires_grad"] = x.requires_grad();
        ctx->saved_data["holder"] = c10::IValue::make_capsule(holder);
        torch::NoGradGuard no_grad;
        return holder->block(x);
    }

    static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
        auto holder = c10::static_intrusive_pointer_cast<BlockHolder>(ctx->saved_data["holder"].toCapsule());
        const bool x_grad = ctx->saved_data["x_requires_grad"].toBool();
        auto x = ctx->get_saved_variables()[0].detach().requires_grad_(x_grad);
        torch::Tensor out;
        {
            ReplayRng replay(*holder);
            torch::AutoGradMode grad_on(true);
            out = holder->block(x);
        }
        std::vector<torch::Tensor> wrt;
        if (x_grad) wrt.push_back(x);
        for (const auto& p : holder->params) wrt.push_back(p);
        variable_list grads;
        if (!wrt.empty() && out.requires_grad())
            grads = torch::autograd::grad({out}, wrt, {grad_out[0]}, /*retain_graph=*/false,
                                          /*create_graph=*/false, /*allow_unused=*/true);
        else
            grads.assign(wrt.size(), torch::Tensor());
        variable_list result;  // one per forward argument: x, each param, the holder
        size_t k = 0;
        result.push_back(x_grad ? grads[k++] : torch::Tensor());
        for (size_t i = 0; i < holder->params.size(); ++i) result.push_back(grads[k++]);
        result.push_back(torch::Tensor());
        return result;
    }
};

}  // namespace

torch::Tensor checkpoint_block(std::function<torch::Tensor(const torch::Tensor&)> block, const torch::Tensor& x,
                               const std::vector<torch::Tensor>& params) {
    auto holder = c10::make_intrusive<BlockHolder>();
    holder->block = std::move(block);
    holder->params = params;
    return CheckpointFunction::apply(x, at::TensorList(params), holder);
}

}  // namespace ps
