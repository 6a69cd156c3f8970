"""Edge-aware smoothness regularisers for flow fields and disparity maps."""

import torch
import torch.nn as nn


def image_grads(x, stride=1):
    """Forward differences along x and y with the given stride."""
    gx = x[:, :, :, stride:] - x[:, :, :, :-stride]
    gy = x[:, :, stride:] - x[:, :, :-stride]
    return gx, gy


def edge_weights(image_grad, edge_constant=150.0, weighting="exponential"):
    """Down-weight the regulariser across image edges, averaged over colour channels."""
    if weighting == "exponential":
        return torch.exp(-torch.mean(torch.abs(edge_constant * image_grad), dim=1, keepdim=True))
    if weighting == "gaussian":
        return torch.exp(-torch.mean((edge_constant * image_grad) ** 2, dim=1, keepdim=True))
    raise ValueError(f"unknown edge weighting {weighting!r}")


def robust_l1(x, eps=1e-3):
    """Smooth L1 surrogate ``sqrt(x^2 + eps^2)``."""
    return (x ** 2 + eps ** 2) ** 0.5


def smoothness_penalty(x, power=1.0):
    """``|x|^p`` penalty on flow derivatives."""
    return torch.abs(x) ** power


def first_order_smoothness(flow, image, edge_constant=150.0, weighting="exponential"):
    """Edge-aware penalty on the first derivatives of the flow."""
    img_gx, img_gy = image_grads(image)
    weights_x = edge_weights(img_gx, edge_constant, weighting)
    weights_y = edge_weights(img_gy, edge_constant, weighting)
    flow_gx, flow_gy = image_grads(flow)
    loss_x = (weights_x * robust_l1(flow_gx)).mean()
    loss_y = (weights_y * robust_l1(flow_gy)).mean()
    return 0.5 * (loss_x + loss_y)


def second_order_smoothness(flow, image, edge_constant=150.0, weighting="exponential", power=1.0):
    """Edge-aware penalty on the second derivatives of the flow (UFlow default)."""
    img_gx, img_gy = image_grads(image, stride=2)
    weights_xx = edge_weights(img_gx, edge_constant, weighting)
    weights_yy = edge_weights(img_gy, edge_constant, weighting)
    flow_gx, flow_gy = image_grads(flow)
    flow_gxx, _ = image_grads(flow_gx)
    _, flow_gyy = image_grads(flow_gy)
    loss_xx = (weights_xx * smoothness_penalty(flow_gxx, power)).mean()
    loss_yy = (weights_yy * smoothness_penalty(flow_gyy, power)).mean()
    return 0.5 * (loss_xx + loss_yy)


def disparity_smoothness(disp, image):
    """Monodepth edge-aware smoothness on mean-normalised disparity."""
    mean_disp = disp.mean(dim=(2, 3), keepdim=True)
    norm_disp = disp / (mean_disp + 1e-7)
    grad_disp_x = torch.abs(norm_disp[:, :, :, :-1] - norm_disp[:, :, :, 1:])
    grad_disp_y = torch.abs(norm_disp[:, :, :-1, :] - norm_disp[:, :, 1:, :])
    grad_img_x = torch.mean(torch.abs(image[:, :, :, :-1] - image[:, :, :, 1:]), 1, keepdim=True)
    grad_img_y = torch.mean(torch.abs(image[:, :, :-1, :] - image[:, :, 1:, :]), 1, keepdim=True)
    grad_disp_x = grad_disp_x * torch.exp(-grad_img_x)
    grad_disp_y = grad_disp_y * torch.exp(-grad_img_y)
    return grad_disp_x.mean() + grad_disp_y.mean()


class EdgeAwareSmoothness(nn.Module):
    """First- or second-order edge-aware smoothness, configured once."""

    def __init__(self, order=2, edge_constant=150.0, weighting="exponential", power=1.0):
        super().__init__()
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {order}")
        self.order = order
        self.edge_constant = edge_constant
        self.weighting = weighting
        self.power = power

    def forward(self, flow, image):
        if image.shape[-2:] != flow.shape[-2:]:
            image = nn.functional.interpolate(
                image, size=flow.shape[-2:], mode="bilinear", align_corners=False
            )
        if self.order == 1:
            return first_order_smoothness(flow, image, self.edge_constant, self.weighting)
        return second_order_smoothness(
            flow, image, self.edge_constant, self.weighting, power=self.power
        )
