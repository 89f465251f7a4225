#version 330 core
// Mirror: one half of the picture reflected onto the other across an axis through the centre
// that turns slowly through the bar. It mirrors the picture itself (u_picture), never the
// black bars around a picture of another shape: outside the picture stays as it is.
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_image;
uniform vec2 u_resolution;
uniform vec4 u_picture;
uniform float u_bar_phase;
uniform float u_amount = 1.0; // @param 0..1 how strong the effect is
uniform float u_angle = 0.25; // @param 0..1 direction of the mirror axis, in turns (0.25 = vertical)
uniform float u_spin = 0.125; // @param 0..1 how far the axis turns over one bar, in turns
const float TAU = 6.28318530718;

void main() {
    vec3 image = texture(u_image, v_uv).rgb;
    vec2 q = (v_uv - u_picture.xy) / max(u_picture.zw, vec2(1e-6));  // 0..1 across the picture
    if (any(lessThan(q, vec2(0.0))) || any(greaterThan(q, vec2(1.0)))) {
        f_color = vec4(image, 1.0);
        return;
    }
    float aspect = u_picture.z * u_resolution.x / max(u_picture.w * u_resolution.y, 1.0);
    float a = TAU * (u_angle + u_spin * u_bar_phase);
    vec2 normal = vec2(-sin(a), cos(a));
    vec2 p = (q - 0.5) * vec2(aspect, 1.0);
    float side = dot(p, normal);
    vec2 f = (p - 2.0 * min(side, 0.0) * normal) / vec2(aspect, 1.0) + 0.5;  // the far half onto the near one
    f = 1.0 - abs(1.0 - mod(f, 2.0));  // mirror back into the picture, never out to the bars
    vec3 folded = texture(u_image, u_picture.xy + f * u_picture.zw).rgb;
    f_color = vec4(mix(image, folded, u_amount), 1.0);
}
