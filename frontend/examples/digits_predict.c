/* Classify digits in C with the library th.aot.compile wrote (README: "A native library").
   Reads images from standard input, 64 pixels in [0, 1] each; prints one line per image:
   the predicted digit, then the ten probabilities.
   Build: gcc digits_predict.c -Ibuild -Lbuild -l:digits.so -Wl,-rpath,'$ORIGIN/build' */
#include <stdio.h>
#include <stdlib.h>

#include "digits.h"

enum { PIXELS = 64, MAX_IMAGES = 4096 };

int main(void) {
    static float images[MAX_IMAGES * PIXELS];
    int64_t count = 0;
    while (count < MAX_IMAGES && scanf("%f", &images[count * PIXELS]) == 1) {
        for (int i = 1; i < PIXELS; i++)
            if (scanf("%f", &images[count * PIXELS + i]) != 1) return 2;
        count++;
    }
    const int64_t image_shape[2] = {count, PIXELS};
    const int64_t *input_shapes[DIGITS_NUM_INPUTS] = {image_shape};
    int64_t probability_shape[2];
    int64_t *output_shapes[DIGITS_NUM_OUTPUTS] = {probability_shape};
    int status = digits_output_shapes(input_shapes, output_shapes);
    if (status != DIGITS_OK) {
        fprintf(stderr, "digits: %s\n", digits_error(status));
        return 1;
    }
    float *probabilities = malloc(sizeof(float) * (size_t)(probability_shape[0] * probability_shape[1]));
    const void *inputs[DIGITS_NUM_INPUTS] = {images};
    void *outputs[DIGITS_NUM_OUTPUTS] = {probabilities};
    digits_context *context = digits_create(0); /* one thread per CPU */
    status = digits_run(context, inputs, input_shapes, outputs);
    digits_destroy(context);
    if (status != DIGITS_OK) {
        fprintf(stderr, "digits: %s\n", digits_error(status));
        return 1;
    }
    for (int64_t n = 0; n < probability_shape[0]; n++) {
        const float *p = probabilities + n * probability_shape[1];
        int best = 0;
        for (int c = 1; c < probability_shape[1]; c++)
            if (p[c] > p[best]) best = c;
        printf("%d", best);
        for (int c = 0; c < probability_shape[1]; c++) printf(" %.9g", p[c]);
        printf("\n");
    }
    free(probabilities);
    return 0;
}
