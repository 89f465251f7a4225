#version 330 core
// Kaleidoscope: folds the picture into u_segments mirrored slices that turn once per bar.
// It folds the picture itself (u_picture, round at any aspect), never the black bars around
// a picture of another shape: outside the picture stays as it is.
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_image;
uniform vec2 u_resolution;
uniform vec4 u_picture;
uniform float u_bar_phase;
uniform float u_segments = 6.0; // @param 1..16 mirrored slices around the centre
uniform float u_amount = 1.0; // @param 0..1 how strong the effect is
const float TAU = 6.28318530718;

void main() {
    vec3 image = texture(u_image, v_uv).rgb;
    vec2 q = (v_uv - u_picture.xy) / max(u_picture.zw, vec2(1e-6));  // 0..1 across the picture
    if (any(lessThan(q, vec2(0.0))) || any(greaterThan(q, vec2(1.0)))) {
        f_color = vec4(image, 1.0);
        return;
    }
    float aspect = u_picture.z * u_resolution.x / max(u_picture.w * u_resolution.y, 1.0);
    vec2 p = (q - 0.5) * vec2(aspect, 1.0);
    float angle = atan(p.y, p.x) + TAU * u_bar_phase / u_segments;
    float slice = TAU / max(u_segments, 1.0);
    angle = abs(mod(angle, slice) - 0.5 * slice);
    vec2 f = length(p) * vec2(cos(angle), sin(angle)) / vec2(aspect, 1.0) + 0.5;
    f = 1.0 - abs(1.0 - mod(f, 2.0));  // mirror back into the picture, never out to the bars
    vec3 folded = texture(u_image, u_picture.xy + f * u_picture.zw).rgb;
    f_color = vec4(mix(image, folded, u_amount), 1.0);
}
